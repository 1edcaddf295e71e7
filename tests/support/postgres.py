"""PostgreSQL at 127.0.0.1:5432 for the state-layer tests: a schema of its own per test, dropped after.

Tests skip with the reason when no server answers there (database `test`, user postgres or root).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

PG_USERS = ("postgres", "root")
UNREACHABLE = "PostgreSQL is not reachable at 127.0.0.1:5432 (database 'test', user postgres or root)"
_pg_user: str | bool | None = False  # False: not probed yet


def postgres_user() -> str | None:
    """The first user that can connect (probed once per process), or None."""
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


@contextmanager
def schema_url(prefix: str) -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a fresh schema named `<prefix>_<random>`; skips when unreachable."""
    user = postgres_user()
    if user is None:
        pytest.skip(UNREACHABLE)
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(f"host=127.0.0.1 port=5432 dbname=test user={user}", autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
