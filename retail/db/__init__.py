"""The workspace's application database (SQLAlchemy; SQLite by default, PostgreSQL by URL), migrated by Alembic.

Every family and the order API share it: tables are declared in `retail.db.tables`, and each schema change is
an Alembic revision under `retail/db/migrations`, applied when a process first opens the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from retail.settings import Settings
from retail.workspace import Workspace

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def url(ws: Workspace, settings: Settings) -> str:
    return settings.database_url or f"sqlite:///{ws.root / 'data' / 'app.db'}"


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the service) never block the writer (the CLI)
    cursor.close()


def engine(ws: Workspace, settings: Settings) -> Engine:
    """One engine per database URL, migrated to the newest revision on first use."""
    address = url(ws, settings)
    with _lock:
        if address not in _engines:
            if address.startswith("sqlite:///"):
                Path(address.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            created = create_engine(address, pool_pre_ping=True)
            if created.dialect.name == "sqlite":
                event.listen(created, "connect", _sqlite_pragmas)
            upgrade(created)
            _engines[address] = created
        return _engines[address]


def upgrade(bind: Engine) -> None:
    """Apply every Alembic revision the database lacks."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with bind.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def session(ws: Workspace, settings: Settings) -> Iterator[Session]:
    """A transaction: committed when the block ends, rolled back (nothing half-written) when it raises."""
    factory = sessionmaker(engine(ws, settings), expire_on_commit=False)
    with factory.begin() as s:
        yield s
