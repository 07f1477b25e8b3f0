"""Every order test runs against SQLite and against a real PostgreSQL server (`db_url`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pgcluster as pg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from retail import db
from serving import guard
from serving.commerce.app import create_app


@pytest.fixture(autouse=True)
def _no_requests_counted() -> None:
    """Each test starts with nothing counted against its keys or address (`serving.guard` counts per process)."""
    guard.forget()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One PostgreSQL server for the whole session (or the one `RETAIL_TEST_POSTGRES_URL` names)."""
    if os.environ.get(pg.ENV_URL):
        yield os.environ[pg.ENV_URL]
        return
    if pg.binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI: .ci/run installs it (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql); the SQLite half still runs")
    with pg.server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty application database: a SQLite file, or a fresh database on the PostgreSQL server.

    Its engine's pooled connections are closed after the test: a server allows so many connections, and each
    test's database would otherwise keep its own idle ones open for the rest of the session.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        url = pg.fresh_database(request.getfixturevalue("postgres_server"))
    yield url
    db.close(url)


@pytest.fixture
def client(shop: Engine) -> Iterator[TestClient]:
    """The order API alone (`create_app`) on the module's `shop` database, over FastAPI's TestClient."""
    app = create_app()
    app.state.db_engine = shop
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
