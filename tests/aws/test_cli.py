"""`launchpad lookup` and `launchpad reset-password` through the real CLI entry point, against moto server."""

from __future__ import annotations

import getpass
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from tests.aws.conftest import REGION, Seeded


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_url: str, seeded: Seeded) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LAUNCHPAD_AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("LAUNCHPAD_AWS_REGION", REGION)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LAUNCHPAD_SRE_USERS", raising=False)
    return tmp_path


def test_lookup_prints_the_tree_owner_first(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lookup", "shop.apps.example.com"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "shop.apps.example.com"
    assert lines[1] == "Owner: team payments — service apps (by tag launchpad/team on devel-apps-tg)"
    assert any("rule 20: host *.apps.example.com -> forward to devel-apps-tg" in line for line in lines)
    assert lines[-1].endswith("AWS calls)")


def test_lookup_json_and_unknown_domain(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lookup", "--json", "--no-owners", "ranking.example.com"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["found"] is True and data["workloads"][0]["namespace"] == "search-prod"
    assert main(["lookup", "nothing.example.net"]) == 1
    assert "Zones searched:" in capsys.readouterr().out
    assert main(["lookup", "not a domain"]) == 1
    assert "is not a hostname" in capsys.readouterr().err


def test_reset_password_is_for_sre_and_prints_the_password_once(cli_env: Path, clients: Any,
                                                                capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    user = f"ops-{uuid.uuid4().hex[:6]}"
    clients.iam.create_user(UserName=user, Tags=[{"Key": "email", "Value": f"{user}@example.com"}])
    assert main(["reset-password", "--user", user]) == 1
    assert "SRE only" in capsys.readouterr().err
    assert main(["reset-password", "--user", user, "--as-sre"]) == 1  # the flag escalates no more (item 17)
    assert "--as-sre no longer makes a login SRE" in capsys.readouterr().err
    monkeypatch.setenv("LAUNCHPAD_SRE_USERS", getpass.getuser())
    assert main(["reset-password", "--user", user]) == 0
    out = capsys.readouterr().out
    assert f"Done: created a console login for IAM user {user} (account 123456789012)." in out
    password = out.split("sign-in):\n", 1)[1].splitlines()[0].strip()
    assert len(password) >= 20 and out.count(password) == 1
    assert f"Slack is not configured: tell {user}@example.com yourself." in out
    assert clients.iam.get_login_profile(UserName=user)["LoginProfile"]["UserName"] == user
    assert main(["audit", "aws-iam"]) == 0
    audit = capsys.readouterr().out
    assert f"aws.console_password_reset: console password reset for IAM user {user} ({user}'s) by cli:" in audit
    assert password not in audit
    assert password.encode() not in b"".join(p.read_bytes() for p in cli_env.rglob("*") if p.is_file())
