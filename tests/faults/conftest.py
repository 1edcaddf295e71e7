"""PostgreSQL for the fault tests: a schema of its own per test (dropped afterwards), skipped with the
reason when PostgreSQL is not reachable at 127.0.0.1:5432."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import schema_url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with schema_url("lp_fault") as url:
        yield url
