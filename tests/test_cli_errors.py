"""Every CLI command given ordinary mistakes answers with one line on stderr, a non-zero exit and no
traceback (issue 12, items 1, 3 and 4): bad arguments, unreadable spec files, settings typos, database
URLs LaunchPad cannot use, a data directory that cannot be created, an unwritable `--out`.

Runs `bot.cli.main` in-process (argparse's exits are caught) with a fresh SQLite data directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "ranking-web.yaml")


@pytest.fixture(autouse=True)
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("LAUNCHPAD_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", "data")  # relative, like the default `.launchpad`
    monkeypatch.setenv("LOGNAME", "alice")
    yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: usage errors and --version
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code != 0, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "specdir").mkdir(exist_ok=True)
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: [unclosed\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be\n")
    return {"dir": str(tmp_path / "specdir"), "latin": str(latin), "yaml": str(bad_yaml),
            "missing": str(tmp_path / "nope.yaml"), "blocker": str(blocker)}


BAD_ARGUMENTS = [
    (["plan", "{dir}"], ["is a directory"]),
    (["plan", "{latin}"], ["not UTF-8"]),
    (["plan", "{yaml}"], ["not valid YAML"]),
    (["plan", "{missing}"], ["does not exist"]),
    (["plan", EXAMPLE, "--out", "{blocker}/out"], ["blocker", "Not a directory"]),
    (["new", "{dir}"], ["is a directory"]),
    (["new", "{latin}"], ["not UTF-8"]),
    (["demo", "{dir}"], ["is a directory"]),
    (["status", "abc"], ["no service named 'abc'"]),
    (["status", "#x"], ["no service named"]),
    (["promote", "nosuch", "alpha"], ["no service named 'nosuch'"]),
    (["promote", "nosuch"], ["required"]),
    (["infra"], ["required"]),
    (["infra", "plan"], ["required"]),
    (["status", "999"], ["no request #999", "looked in sqlite:///"]),
    (["list", "--limit", "many"], ["invalid int value"]),
    (["retry", "999"], ["no request #999"]),
    (["cancel", "999"], ["no request #999"]),
    (["approve", "999"], ["no request #999"]),
    (["deny", "1"], ["--reason"]),
    (["delete", "nosuch"], ["no service named 'nosuch'"]),
    (["extend", "nosuch", "tmp-x", "-5h"], ["negative duration"]),
    (["extend", "nosuch", "tmp-x", "soon"], ["not a duration"]),
    (["extend", "nosuch", "tmp-x", "0h"], ["zero"]),
    (["audit", "nosuch"], ["no service named 'nosuch'"]),
    (["worker", "--metrics-port", "x"], ["invalid int value"]),
    (["db"], ["required"]),
    (["db", "sideways"], ["invalid choice"]),
    (["db", "downgrade"], ["required"]),
    (["db", "downgrade", "nope"], ["nope"]),
    (["config", "--bogus"], ["unrecognized arguments"]),
    (["bulk", "--chart-revision", "v1"], ["say which services"]),
    (["bulk", "--all"], ["one of the arguments"]),
    (["lookup", "not a domain!"], ["not"]),
    (["reset-password", "--user", "bob"], ["SRE"]),
    (["serve", "--port", "x"], ["invalid int value"]),
    (["nosuchcommand"], ["invalid choice"]),
]


def test_every_command_is_covered() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices  # type: ignore[attr-defined]
    covered = {argv[0] for argv, _ in BAD_ARGUMENTS}
    assert set(commands) - covered == set(), "add the new command's mistakes to BAD_ARGUMENTS"


@pytest.mark.parametrize(("argv", "needles"), BAD_ARGUMENTS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_arguments_get_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str],
                                    needles: list[str]) -> None:
    files = _files(tmp_path)
    code, _, err = run(capsys, *[a.format(**files) for a in argv])
    assert_one_line(code, err, *needles)


def test_a_bad_demo_spec_keeps_the_previous_demo(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    previous = tmp_path / "data" / "demo" / "repos"
    previous.mkdir(parents=True)
    (previous / "kept").write_text("from the last demo\n")
    bad = tmp_path / "bad-spec.yaml"
    bad.write_text("name: Bad_Name\nteam: search\nenvironments: [{name: devel}]\n")
    code, _, err = run(capsys, "demo", str(bad))
    assert_one_line(code, err, "name:")
    assert (previous / "kept").exists()


@pytest.mark.parametrize(("variable", "value", "needles"), [
    ("LAUNCHPAD_DATABASE_URL", "mysql://lp:hunter2@db.example/lp", ["mysql", "postgresql+psycopg", "***"]),
    ("LAUNCHPAD_DATABASE_URL", "not a url", ["not a URL"]),
    ("LAUNCHPAD_DATA_DIR", "{blocker}/data", ["LAUNCHPAD_DATA_DIR"]),
    ("LAUNCHPAD_FORGE", "gitlab", ["forge"]),
])
def test_unusable_settings_get_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                        needles: list[str]) -> None:
    monkeypatch.setenv(variable, value.format(**_files(tmp_path)))
    code, _, err = run(capsys, "status", "1")
    assert_one_line(code, err, *needles)
    assert "hunter2" not in err


def test_a_settings_file_typo_names_the_closest_setting(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "launchpad.yaml"
    config.write_text("forg: github\nplatform:\n  organisaton: acme\n")
    code, _, err = run(capsys, "--config", str(config), "config")
    assert_one_line(code, err, "did you mean 'forge'?", "did you mean 'organisation'?")
    assert "pydantic" not in err and "errors.pydantic.dev" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("launchpad ")


def test_config_masks_the_database_password(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHPAD_DATABASE_URL", "postgresql+psycopg://lp:hunter2@db.example:5432/lp")
    code, out, _ = run(capsys, "config")
    assert code == 0
    assert "hunter2" not in out and "postgresql+psycopg://lp:***@db.example:5432/lp" in out
