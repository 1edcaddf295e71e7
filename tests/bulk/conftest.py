"""The workflow tests' database fixtures (SQLite, and PostgreSQL in a schema of its own), for bulk tests."""

from tests.workflow.conftest import db_url, pg_url

__all__ = ["db_url", "pg_url"]
