"""`launchpad bulk` through `bot.cli.main([...])` on embedded defaults (SQLite and local git): services
created with `launchpad new`, then a dry run, refusals, and a bulk change run to the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.commands.bulk import BulkUsageError, parse_bulk
from tests.workflow.support import spec


@pytest.fixture(autouse=True)
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LAUNCHPAD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOGNAME", "alice")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_bulk_from_the_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name, team in (("ranking-api", "search"), ("ledger-api", "payments")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec(name, team=team)))
        code, _, err = run(capsys, "new", str(path), "--wait")
        assert code == 0, err

    code, out, err = run(capsys, "bulk", "--team", "search", "--chart-revision", "v1.2.0", "--dry-run")
    assert code == 1 and "only SRE may preview a bulk change" in err and out == ""

    code, out, err = run(capsys, "bulk", "--chart-revision", "v1.2.0", "--as-sre")
    assert code == 1 and "say which services" in err

    code, out, err = run(capsys, "bulk", "--team", "search", "--chart-revision", "v1.2.0", "--as-sre", "--dry-run")
    assert code == 0, err
    assert "1 of 1 matching service(s) change: 1 file(s), one pull request per repository: gitops (1 file)" in out
    assert "gitops: teams/search/services/ranking-api/devel.yaml" in out and "ledger-api" not in out
    assert "Approval: none" in out and "Dry run: nothing was submitted" in out
    code, out, _ = run(capsys, "list")
    assert "bulk" not in out  # the dry run submitted nothing

    code, out, err = run(capsys, "bulk", "--team", "search", "--chart-revision", "v1.2.0", "--as-sre", "--wait")
    assert code == 0, err
    assert "Request #3: bulk 1 service (team search; devel) by cli:alice" in out
    assert "Opened PR #" in out and "#3 succeeded" in out
    code, out, _ = run(capsys, "audit", "ranking-api")
    assert "bulk.submitted" in out and "service.changed: bulk: chart revision v1.2.0 for team search" in out

    code, out, err = run(capsys, "bulk", "--team", "search", "--chart-revision", "v1.2.0", "--as-sre")
    assert code == 1 and "nothing to change: 1 service(s) match team search" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--team", "search"], "one of the arguments --module --chart-revision --sidecar-image --action is required"),
    (["--all", "--module", "rds"], "needs KEY=VERSION"),
    (["--all", "--sidecar-image", "envoy=envoyproxy/envoy:v1.31.0"], "nginx, filebeat"),
    (["--all", "--chart-revision", "v1", "--module", "rds=1"], "not allowed with argument"),
    (["--service"], "expected one argument"),
])
def test_parse_errors_say_what_is_accepted(argv: list[str], message: str) -> None:
    with pytest.raises(BulkUsageError, match=message):
        parse_bulk(argv)


def test_parse_builds_selector_and_change() -> None:
    args = parse_bulk(["--env", "prod", "--service", "a", "--service", "b", "--service", "a", "--module",
                       "rds=7.3.0", "--apply"])
    assert (args.selector.environment, args.selector.services, args.apply, args.dry_run) == ("prod", ["a", "b"],
                                                                                          True, False)
    assert (args.change.kind, args.change.target, args.change.value) == ("module_version", "rds", "7.3.0")
