"""The database connection: engine, sessions, and running the Alembic migrations programmatically.

SQLite (the embedded default) runs every transaction as `BEGIN IMMEDIATE` so two processes never
read a stale snapshot and then fail to write; PostgreSQL (psycopg 3) uses its default isolation and
row locks. Migrations live inside the package (`bot/store/migrations`) so `launchpad db upgrade`
works from an installed wheel. This module knows nothing about requests or steps.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


SUPPORTED = "LaunchPad supports sqlite:///PATH and postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB"


class DatabaseSetupError(RuntimeError):
    """The database URL or the SQLite file's folder cannot be used; the message says what to set."""


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseSetupError(f"the database URL is not a URL; {SUPPORTED}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseSetupError(f"the database URL {parsed.render_as_string(hide_password=True)} is "
                                 f"{parsed.get_backend_name()}; {SUPPORTED}")
    return parsed


class SchemaOutdated(RuntimeError):
    """The database is behind the code's migrations; the message says which command fixes it."""


class Store:
    """One engine and its session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = _parse(url)
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if parsed.get_backend_name() == "sqlite":
            database = parsed.database
            if database and database != ":memory:":
                folder = Path(database).parent
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise DatabaseSetupError(
                        f"cannot create {folder} for the SQLite database ({exc.strerror or exc}); set "
                        "LAUNCHPAD_DATA_DIR to a directory you can write, or LAUNCHPAD_DATABASE_URL") from None
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except (ImportError, NoSuchModuleError, ArgumentError) as exc:
            raise DatabaseSetupError(f"cannot use the database URL {parsed.render_as_string(hide_password=True)} "
                                     f"({' '.join(str(exc).split())}); {SUPPORTED}") from None
        if self.is_sqlite:
            _immediate_transactions(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._reads = sessionmaker(self.engine.execution_options(launchpad_read_only=True), expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed when the block ends normally, rolled back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A transaction that only reads. On SQLite it begins DEFERRED, so (with WAL) it never waits for
        the write lock: checks inside a Slack ack must not queue behind a worker's write."""
        with self._reads() as session, session.begin():
            yield session

    # --- migrations ---------------------------------------------------------------------------
    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        _quiet_alembic()
        with self.engine.begin() as conn:
            cfg = self.alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def downgrade(self, revision: str = "base") -> None:
        _quiet_alembic()
        with self.engine.begin() as conn:
            cfg = self.alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self.alembic_config()).get_current_head()

    def check_current(self) -> None:
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise SchemaOutdated(
                f"database schema is at {current or 'nothing'} but this LaunchPad needs {head}; "
                "run `launchpad db upgrade` (once, from any replica) and start again"
            )

    def dispose(self) -> None:
        self.engine.dispose()


def _quiet_alembic() -> None:
    """Alembic logs every migration at INFO; a start-up upgrade should say nothing unless asked (DEBUG)."""
    logger = logging.getLogger("alembic")
    if not logger.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.WARNING)


def _immediate_transactions(engine: Engine) -> None:
    """SQLite: take the write lock when a transaction begins (see module docstring)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get("launchpad_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
