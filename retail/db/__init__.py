"""The workspace's application database (SQLAlchemy; SQLite by default, PostgreSQL by URL), migrated by Alembic.

Every family and the commerce domain share it. Each owner declares its tables on `Base` beside its code and keeps
its Alembic revisions in a `migrations` folder there (`VERSION_LOCATIONS`); the revisions form one chain, applied
when a process first opens the database. `retail/db/migrations` holds only Alembic's environment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from retail.settings import Settings
from retail.workspace import Workspace

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# Where the owners of tables keep their revisions (package:folder, found without importing their code).
VERSION_LOCATIONS = ("training.demand:migrations", "serving.commerce:migrations")
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


class Base(DeclarativeBase):
    """The declarative base every table of the application database is declared on."""


def url(ws: Workspace, settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{ws.root / 'data' / 'app.db'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None  # SQLAlchemy's `begin` event below starts transactions
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the service) never block the writer (the CLI)
    cursor.execute("PRAGMA busy_timeout=30000")  # writers queue for the lock instead of failing at once
    cursor.close()


def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
    """Take the write lock when a writing transaction starts, so two writers never deadlock upgrading a read lock.

    With SQLite's default deferred transactions, two processes that both read stock and then write fail with
    "database is locked"; BEGIN IMMEDIATE makes the second one wait its turn instead. Reads through `reader`
    start a plain (deferred) transaction: in WAL mode they never wait for a writer.
    """
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("read_only") else "BEGIN IMMEDIATE")


def reader(bind: Engine) -> Engine:
    """The same database for transactions that only read (on SQLite they then never queue behind writers)."""
    return bind.execution_options(read_only=True)


def engine(ws: Workspace, settings: Settings) -> Engine:
    """The workspace's application database (see `connect`)."""
    return connect(url(ws, settings))


def connect(address: str) -> Engine:
    """One engine per database URL, migrated to the newest revision on first use."""
    with _lock:
        if address not in _engines:
            if address.startswith("sqlite:///"):
                Path(address.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            created = create_engine(address, pool_pre_ping=True, pool_size=10, max_overflow=20)
            if created.dialect.name == "sqlite":
                event.listen(created, "connect", _sqlite_pragmas)
                event.listen(created, "begin", _sqlite_begin)
            upgrade(created)
            _engines[address] = created
        return _engines[address]


def close(address: str) -> None:
    """Close the pooled connections of `address`'s engine and forget it (the next `connect` makes a new one)."""
    with _lock:
        engine = _engines.pop(address, None)
    if engine is not None:
        engine.dispose()


def upgrade(bind: Engine, revision: str = "head") -> None:
    """Apply every Alembic revision the database lacks, up to `revision` (the newest by default)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("version_locations", " ".join(VERSION_LOCATIONS))
    with bind.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@contextmanager
def session(ws: Workspace, settings: Settings) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back (nothing half-written) when it raises."""
    factory = sessionmaker(engine(ws, settings), expire_on_commit=False)
    with factory.begin() as s:
        yield s
