"""PostgreSQL for the fault tests: a schema of its own per test (dropped afterwards), skipped with the
reason when PostgreSQL is not reachable at 127.0.0.1:5432."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.workflow.conftest import postgres_user


@pytest.fixture
def pg_url() -> Iterator[str]:
    user = postgres_user()
    if user is None:
        pytest.skip("PostgreSQL is not reachable at 127.0.0.1:5432 (database 'test', user postgres or root)")
    import psycopg

    schema = f"lp_fault_{uuid.uuid4().hex[:12]}"
    admin = psycopg.connect(f"host=127.0.0.1 port=5432 dbname=test user={user}", autocommit=True)
    admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        admin.close()
