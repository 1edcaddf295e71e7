"""The store: migrations create exactly the models' schema, upgrade/downgrade both ways, timestamps
come back timezone-aware, and `launchpad db upgrade` works on a fresh database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from bot.cli import main
from bot.store import models as m
from bot.store.database import SchemaOutdated, Store
from tests.workflow.support import settings_for

TABLES = {"services", "service_revisions", "environments", "requests", "steps", "approvals", "locks",
          "audit_events", "outbox"}


def test_migrations_match_models(db_url: str) -> None:
    store = Store(db_url)
    try:
        assert store.current_revision() == store.head_revision()
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        with store.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), m.Base.metadata) == []
    finally:
        store.dispose()


def test_downgrade_then_upgrade(db_url: str) -> None:
    store = Store(db_url)
    try:
        store.downgrade("base")
        assert store.current_revision() is None
        assert not TABLES & set(inspect(store.engine).get_table_names())
        with pytest.raises(SchemaOutdated, match="launchpad db upgrade"):
            store.check_current()
        store.upgrade()
        store.check_current()
    finally:
        store.dispose()


def test_timestamps_round_trip_as_utc(db_url: str) -> None:
    store = Store(db_url)
    at = datetime(2030, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    try:
        with store.session() as s:
            s.add(m.AuditEvent(at=at, actor="U1", service="svc", action="test", detail=""))
        with store.session() as s:
            row = s.scalars(select(m.AuditEvent)).one()
        assert row.at == at and row.at.tzinfo == UTC
        with pytest.raises(Exception, match="naive datetime"), store.session() as s:
            s.add(m.AuditEvent(at=datetime(2030, 1, 1), actor="U1", service="svc", action="test", detail=""))
    finally:
        store.dispose()


def test_db_upgrade_command_on_a_fresh_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LAUNCHPAD_DATA_DIR", str(tmp_path / "data"))
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    store = Store(settings_for(tmp_path / "data", "").effective_database_url())
    assert f"revision {store.head_revision()}" in out
    assert store.current_revision() == store.head_revision()
    assert f"revision {store.head_revision()} (head {store.head_revision()})" in out
    store.dispose()
    assert main(["db", "upgrade"]) == 0  # idempotent
