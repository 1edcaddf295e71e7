"""The workflow CLI through `bot.cli.main([...])` on embedded defaults (SQLite and local git under a
temporary data directory): the demo, a gated request approved by another user, delete/extend,
worker passes, and one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.commands.requests import parse_duration
from provisioners.errors import LaunchPadError
from tests.workflow.support import spec

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LAUNCHPAD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOGNAME", "alice")
    return tmp_path


def write_spec(tmp_path: Path, **kwargs: object) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec(**kwargs)))  # type: ignore[arg-type]
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_runs_a_whole_request_twice(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    example = str(ROOT / "examples" / "ranking-web.yaml")
    for _ in range(2):
        code, out, err = run(capsys, "demo", example)
        assert code == 0, err
        assert "no credentials" in out and "Submitted as cli:alice" in out
        assert "Approving as cli:alice-sre, a separate SRE actor" in out  # ranking-web has prod: gated
        assert "Opened PR #1 in infra" in out and "Merged PR #1 in infra" in out
        assert out.index("Opened PR #1 in infra") < out.index("Approving as") < out.index("Merged PR #1 in infra")
        assert "#1 succeeded" in out and "[FAIL]" not in out
        # embedded defaults: the deploy step runs and says it was skipped, it never pretends to have followed
        assert ("Follow the deployment in Argo CD until Synced and Healthy (devel, alpha, prod): skipped: Argo CD "
                "not configured") in out
        assert f"{tmp_path / 'data' / 'demo' / 'repos'}" in out
        assert "Merge pull request #1" in out  # each repository's main has the merge
    assert (tmp_path / "data" / "demo" / "repos" / "platform" / "infra-live.git").is_dir()


def test_a_gated_request_from_the_terminal(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_spec(tmp_path, name="cli-api", envs=["devel", "prod"], owner="")
    code, out, _ = run(capsys, "new", str(path), "--wait")
    assert code == 0 and "Request #1: create cli-api" in out and "waiting" in out
    assert "needs approval by sre" in out

    code, _, err = run(capsys, "approve", "1", "--as-sre")
    assert code == 1 and "never approves their own request" in err and len(err.strip().splitlines()) == 1

    monkeypatch.setenv("LOGNAME", "bob")
    code, _, err = run(capsys, "approve", "1")
    assert code == 1 and "only members of sre" in err
    code, out, err = run(capsys, "approve", "1", "--as-sre", "--reason", "capacity ok", "--wait")
    assert code == 0, err
    assert "Approved step 3 of request #1" in out and "succeeded" in out  # after open PR, plan

    code, out, _ = run(capsys, "status", "1")
    assert code == 0 and "decided by cli:bob: capacity ok" in out and "[done]" in out
    code, out, _ = run(capsys, "list")
    assert code == 0 and "cli-api" in out and "#1" in out and "succeeded" in out
    code, out, _ = run(capsys, "audit", "cli-api")
    assert code == 0 and "approval.approved" in out and "cli:bob" in out and "request.succeeded" in out


def test_delete_extend_and_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_spec(tmp_path, name="tmp-api", envs=["devel", "tmp-x1"])
    assert run(capsys, "new", str(path), "--wait")[0] == 0
    code, out, _ = run(capsys, "extend", "tmp-api", "tmp-x1", "1d")
    assert code == 0 and "tmp-api/tmp-x1 now expires at" in out
    code, _, err = run(capsys, "extend", "tmp-api", "tmp-x1", "2w")
    assert code == 1 and "the maximum is 336h" in err
    code, _, err = run(capsys, "extend", "tmp-api", "tmp-x1", "soon")
    assert code == 1 and "not like 24h" in err
    code, out, err = run(capsys, "delete", "tmp-api", "--env", "tmp-x1", "--wait")
    assert code == 0, err
    assert "delete tmp-api" in out and "succeeded" in out
    code, out, _ = run(capsys, "list")
    assert "tmp-api" in out and "tmp-x1" not in out.split("Requests")[0]
    code, _, err = run(capsys, "retry", "2")
    assert code == 1 and "only a failed request can be retried" in err
    code, _, err = run(capsys, "cancel", "99")
    assert code == 1 and err.startswith("launchpad cancel: no request #99")


def test_queued_requests_run_in_a_worker_pass(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_spec(tmp_path, name="queued-api")
    code, out, _ = run(capsys, "new", str(path))
    assert code == 0 and "Queued" in out and "launchpad worker" in out
    assert "pending" in run(capsys, "status", "1")[1]
    assert run(capsys, "worker", "--once")[0] == 0
    assert "succeeded" in run(capsys, "status", "1")[1]


@pytest.mark.parametrize(("argv", "message"), [
    (["new", "missing.yaml"], "invalid service spec: spec: missing.yaml does not exist"),
    (["status", "7"], "no request #7"),
    (["delete", "nothing-here"], "no service named 'nothing-here'"),
    (["audit", "nothing-here"], "no service named 'nothing-here' has any history"),
])
def test_errors_print_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1


def test_invalid_spec_names_each_field(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**spec(), "name": "Bad_Name", "team": "nobody"}))
    code, _, err = run(capsys, "new", str(path))
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "name:" in err and "team:" in err and "unknown team 'nobody'" in err


def test_worker_stops_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LAUNCHPAD_WORKER_POLL_SECONDS": "0.2"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "--id", "sig-test"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "worker sig-test running" in first and "launchpad.run_steps" in first
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "worker sig-test stopped" in out


@pytest.mark.parametrize(("text", "hours"), [("24h", 24), ("3d", 72), ("1w", 168), ("36", 36)])
def test_parse_duration(text: str, hours: int) -> None:
    assert parse_duration(text) == hours


@pytest.mark.parametrize("text", ["", "0h", "-1d", "1y", "1.5h"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(LaunchPadError):
        parse_duration(text)
