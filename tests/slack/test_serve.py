"""`launchpad serve`: refuses without credentials (naming them), Socket Mode by default, HTTP with --http."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.commands.serve import run_serve
from bot.config import Settings
from tests.slack import payloads
from tests.slack.conftest import BOT_TOKEN, DEV, SECRET
from tests.support.slack_server import SlackServer

APP_TOKEN = "xapp-1-A0LAUNCHPAD-1234567890-abcdef"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LAUNCHPAD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


@pytest.mark.parametrize(("argv", "named", "not_named"), [
    (["serve"], ["LAUNCHPAD_SLACK_BOT_TOKEN", "LAUNCHPAD_SLACK_APP_TOKEN"], "LAUNCHPAD_SLACK_SIGNING_SECRET and"),
    (["serve", "--http"], ["LAUNCHPAD_SLACK_BOT_TOKEN", "LAUNCHPAD_SLACK_SIGNING_SECRET"],
     "LAUNCHPAD_SLACK_APP_TOKEN and"),
])
def test_without_credentials_it_exits_naming_the_variables(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           argv: list[str], named: list[str], not_named: str) -> None:
    args = build_parser().parse_args(argv)
    assert run_serve(args, Settings(data_dir=tmp_path)) == 2
    err = capsys.readouterr().err
    assert f"set {named[0]} and {named[1]}." in err
    assert not_named not in err
    assert "docs/slack.md" in err


def test_only_the_missing_variable_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = build_parser().parse_args(["serve"])
    assert run_serve(args, Settings(data_dir=tmp_path, slack_bot_token=BOT_TOKEN)) == 2
    assert "set LAUNCHPAD_SLACK_APP_TOKEN." in capsys.readouterr().err


def test_socket_mode_is_the_default(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with SlackServer() as slack:
        settings = Settings(data_dir=tmp_path, slack_bot_token=BOT_TOKEN, slack_app_token=APP_TOKEN,
                            slack_api_url=slack.api_url, http_host="127.0.0.1", http_port=0)
        args = build_parser().parse_args(["serve", "--no-worker"])
        assert run_serve(args, settings) == 1  # the local server refuses the Socket Mode connection
        [connect] = slack.calls_to("apps.connections.open")
        assert connect.headers["Authorization"] == f"Bearer {APP_TOKEN}"
    out, err = capsys.readouterr()
    assert "connecting to Slack with Socket Mode" in out
    assert "invalid_auth" in err and "LAUNCHPAD_SLACK_APP_TOKEN" in err


def test_http_mode_serves_signed_slack_requests_and_probes_with_the_workers(tmp_path: Path) -> None:
    with SlackServer() as slack:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAUNCHPAD_")}
        env.update(LAUNCHPAD_SLACK_BOT_TOKEN=BOT_TOKEN, LAUNCHPAD_SLACK_SIGNING_SECRET=SECRET,
                   LAUNCHPAD_SLACK_API_URL=slack.api_url, LAUNCHPAD_DATA_DIR=str(tmp_path))
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--http", "--host",
                                 "127.0.0.1", "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "serving Slack events on http://127.0.0.1:" in line, line if line else proc.stderr.read()
            events = line.split(" on ", 1)[1].strip()
            base = events.removesuffix("/slack/events")
            with urllib.request.urlopen(base + "/readyz", timeout=10) as r:
                assert r.status == 200
            with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
                assert r.status == 200 and b"launchpad_" in r.read()
            body, ctype = payloads.slash_command("help", user=DEV, response_url=slack.response_url("serve"))
            reply = payloads.post(events, body, ctype, payloads.sign(SECRET, body))
            assert reply.status == 200
            assert "/launchpad new" in json.dumps(slack.wait_for("/response/serve")[0].body)
            unsigned = payloads.post(events, body, ctype, {})
            assert unsigned.status == 401
            proc.terminate()  # SIGTERM, as in a rolling deploy: a clean stop
            code = proc.wait(timeout=60)  # generous: the suite shares two cores with other work
            err = proc.stderr.read() if proc.stderr else ""
            assert code == 0, err
            assert "Traceback" not in err, err
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout:
                proc.stdout.close()
            if proc.stderr:
                proc.stderr.close()


def test_an_empty_app_token_is_missing_not_a_library_traceback(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (issue 16): LAUNCHPAD_SLACK_APP_TOKEN= crashed with KeyError: 'SLACK_APP_TOKEN'."""
    monkeypatch.setenv("LAUNCHPAD_SLACK_APP_TOKEN", "")
    monkeypatch.setenv("LAUNCHPAD_SLACK_BOT_TOKEN", BOT_TOKEN)
    args = build_parser().parse_args(["serve"])
    assert run_serve(args, Settings(data_dir=tmp_path)) == 2
    assert "set LAUNCHPAD_SLACK_APP_TOKEN." in capsys.readouterr().err
