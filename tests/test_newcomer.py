"""The newcomer's path after `make demo`, on the defaults (a relative data directory): submit the example,
run one worker pass, follow it, and get out of a failed request's lock (issue 12, item 1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "ranking-web.yaml")


@pytest.fixture(autouse=True)
def defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LAUNCHPAD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LOGNAME", "alice")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_after_the_demo_a_request_runs_on_the_default_data_dir(capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path) -> None:
    code, out, err = run(capsys, "demo", EXAMPLE)
    assert code == 0, err
    assert "LAUNCHPAD_DATA_DIR=" in out  # the demo says where its requests are

    code, _, err = run(capsys, "status", "1")  # the default database has no request yet: say where we looked
    assert code == 1 and "no request #1" in err and "sqlite:///.launchpad/launchpad.db" in err
    assert "launchpad demo` keeps its requests in .launchpad/demo" in err

    code, out, err = run(capsys, "new", EXAMPLE)
    assert code == 0, err
    code, out, err = run(capsys, "worker", "--once")  # git ran with a relative --git-dir and failed here
    assert code == 0, err
    code, out, err = run(capsys, "status", "1")
    assert code == 0, err
    assert "[FAIL]" not in out
    assert "file://" in out  # the infra pull request was opened
    assert (tmp_path / ".launchpad" / "repos" / "platform" / "infra-live.git" / "HEAD").is_file()


def test_a_failed_request_says_how_to_release_its_lock(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / ".launchpad" / "repos" / "platform" / "infra-live.git"
    broken.parent.mkdir(parents=True)
    broken.write_text("not a repository\n")  # the forge fails permanently
    assert run(capsys, "new", EXAMPLE)[0] == 0
    run(capsys, "worker", "--once")
    code, out, _ = run(capsys, "status", "1")
    assert "[FAIL]" in out

    code, _, err = run(capsys, "new", EXAMPLE)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "locked by request #1" in err and "launchpad retry 1" in err and "launchpad cancel 1" in err

    assert run(capsys, "cancel", "1")[0] == 0
    broken.unlink()
    code, out, err = run(capsys, "new", EXAMPLE)
    assert code == 0 and "Request #2" in out, err
