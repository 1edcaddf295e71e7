"""`launchpad promote` and `launchpad status SERVICE` from a terminal, against the local Argo CD server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from provisioners.forge.local import LocalForge
from tests.deploy.support import TOKEN, ci_deploys, follow
from tests.support.argocd_server import ArgoCdServer
from tests.workflow.support import spec


def test_promote_and_status_from_the_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    spec_file = tmp_path / "ranking-api.yaml"
    spec_file.write_text(yaml.safe_dump(spec(envs=["devel", "alpha"])))
    with ArgoCdServer(tokens={TOKEN: None}) as argo:
        monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(data))
        monkeypatch.setenv("LAUNCHPAD_ARGOCD__DEFAULT__URL", argo.url)
        monkeypatch.setenv("LAUNCHPAD_ARGOCD__DEFAULT__TOKEN", TOKEN)
        forge = LocalForge(data / "repos")
        follow(argo, forge, "ranking-api", ["devel", "alpha"], sync_delay=0, rollout=0)
        assert main(["new", str(spec_file), "--wait"]) == 0
        out = capsys.readouterr().out
        assert "Follow the deployment in Argo CD until Synced and Healthy (devel, alpha): devel: Healthy at" in out

        assert main(["promote", "ranking-api", "alpha"]) == 1  # both run the bootstrap image
        assert "alpha already runs" in capsys.readouterr().err

        ci_deploys(forge, "ranking-api", "devel", "3f2a9c1")
        assert main(["promote", "ranking-api", "alpha", "--wait"]) == 0
        out = capsys.readouterr().out
        assert "promote ranking-api (team search; alpha)" in out and " - succeeded" in out

        assert main(["status", "ranking-api"]) == 0
        out = capsys.readouterr().out
        assert "devel      111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-api:3f2a9c1  Healthy at" in out
        assert "alpha      111111111111.dkr.ecr.eu-west-1.amazonaws.com/search/ranking-api:3f2a9c1  Healthy at" in out
        assert "promoted #2 devel -> alpha" in out and "(succeeded, by cli:" in out
        assert argo.schema_errors == []
