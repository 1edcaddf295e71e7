"""Rolling back a release (docs/deploy.md): `launchpad db head` names the revision a release needs, and
`launchpad db downgrade REVISION` (run with the newer image) takes the schema back there, so the
older pods, which refuse a schema they do not know, start again. On SQLite and on PostgreSQL, every
migration's downgrade runs for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.cli import main
from bot.store.database import SchemaOutdated, Store
from tests.support.postgres import schema_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("LAUNCHPAD_DATABASE_URL", "LAUNCHPAD_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path))
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'launchpad.db'}"
    else:
        with schema_url("rollback") as url:
            yield url


def test_head_needs_no_database(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAUNCHPAD_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert main(["db", "head"]) == 0
    assert capsys.readouterr().out.strip() == Store("sqlite://").head_revision()


def test_every_migration_rolls_back_and_forward(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LAUNCHPAD_DATABASE_URL", database_url)
    store = Store(database_url)
    try:
        script = ScriptDirectory.from_config(store.alembic_config())
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]  # oldest first
        assert main(["db", "upgrade"]) == 0
        for previous in reversed([None, *revisions[:-1]]):
            assert main(["db", "downgrade", previous or "base"]) == 0, capsys.readouterr().err
            assert store.current_revision() == previous
            if previous is not None:
                with pytest.raises(SchemaOutdated):
                    store.check_current()  # this release refuses it; the older one starts on it
        assert main(["db", "upgrade"]) == 0
        store.check_current()
    finally:
        store.dispose()


def test_downgrade_to_an_unknown_revision_says_what_to_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("LAUNCHPAD_DATABASE_URL", raising=False)
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path))
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "downgrade", "9999"]) == 1
    err = capsys.readouterr().err
    assert "cannot downgrade to '9999'" in err and "launchpad db head" in err
    assert "Traceback" not in err
