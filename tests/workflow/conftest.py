"""Database fixtures: every store/engine test runs on SQLite and on PostgreSQL (own schema per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store.database import Store

PG_USERS = ("postgres", "root")
_pg_user: str | bool | None = False  # False: not probed yet


def postgres_user() -> str | None:
    global _pg_user
    if _pg_user is False:
        _pg_user = None
        try:
            import psycopg
        except ImportError:
            return None
        for user in PG_USERS:
            try:
                psycopg.connect(f"host=127.0.0.1 port=5432 dbname=test user={user} connect_timeout=3").close()
                _pg_user = user
                break
            except psycopg.Error:
                continue
    return _pg_user if isinstance(_pg_user, str) else None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    user = postgres_user()
    if user is None:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 (database 'test', user postgres or root)")
    import psycopg

    schema = f"lp_w_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(f"host=127.0.0.1 port=5432 dbname=test user={user}", autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()


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
