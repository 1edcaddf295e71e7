"""Database fixtures: every store/engine test runs on SQLite and on PostgreSQL (own schema per test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.database import Store
from tests.support.postgres import schema_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with schema_url("lp_w") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database: SQLite file, or a PostgreSQL schema of its own."""
    sqlite = f"sqlite:///{tmp_path / 'launchpad.db'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = Store(url)
    store.upgrade()
    store.dispose()
    yield url


@pytest.fixture
def make(db_url: str, tmp_path: Path) -> Iterator[object]:
    """Build services on the test database (closed at teardown, before the schema is dropped)."""
    from tests.workflow.support import build

    built = []

    def _make(**kwargs: object) -> object:
        services = build(tmp_path, db_url, **kwargs)  # type: ignore[arg-type]
        built.append(services)
        return services

    yield _make
    for services in built:
        services.close()
