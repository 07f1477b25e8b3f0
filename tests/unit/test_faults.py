"""Which errors mean "a backing service is down" (503 + Retry-After) and which are bugs (500)."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg.errors
import pytest
import redis.exceptions
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from serving import faults
from serving.commerce.app import install_error_handlers


def wrapped(kind: type[sa_exc.DBAPIError], orig: Exception, invalidated: bool = False) -> sa_exc.DBAPIError:
    return kind("SELECT 1", {}, orig, connection_invalidated=invalidated)


def pg_error(sqlstate: str) -> Exception:
    """The psycopg error PostgreSQL's SQLSTATE maps to (AdminShutdown for 57P01 ...)."""
    return psycopg.errors.lookup(sqlstate)("server said no")


@pytest.mark.parametrize(
    ("error", "service"),
    [
        (
            redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
            "online store",
        ),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "online store"),
        (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "online store"),
        (wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked")), "database"),
        (
            wrapped(sa_exc.OperationalError, psycopg.OperationalError("connection failed: Connection refused")),
            "database",
        ),
        (wrapped(sa_exc.OperationalError, pg_error("57P01")), "database"),  # terminating: administrator command
        (wrapped(sa_exc.OperationalError, pg_error("57P03")), "database"),  # the server is starting up
        (wrapped(sa_exc.OperationalError, pg_error("08006")), "database"),
        (wrapped(sa_exc.OperationalError, pg_error("53300")), "database"),  # too many connections
        (wrapped(sa_exc.InterfaceError, psycopg.InterfaceError("the connection is closed")), "database"),
        (wrapped(sa_exc.ProgrammingError, psycopg.ProgrammingError("lost"), invalidated=True), "database"),
        (sa_exc.TimeoutError("QueuePool limit of size 10 overflow 20 reached"), "database"),
        (sa_exc.DisconnectionError("connection was invalidated"), "database"),
        # bugs stay bugs
        (wrapped(sa_exc.OperationalError, sqlite3.OperationalError("no such table: orders")), None),
        (wrapped(sa_exc.InterfaceError, sqlite3.InterfaceError("Error binding parameter 1")), None),
        (wrapped(sa_exc.OperationalError, pg_error("55P03")), None),  # lock_not_available: a NOWAIT the code chose
        (wrapped(sa_exc.IntegrityError, sqlite3.IntegrityError("UNIQUE constraint failed")), None),
        (redis.exceptions.ResponseError("WRONGTYPE"), None),
        (ValueError("a bug"), None),
    ],
)
def test_which_errors_mean_a_service_is_down(error: BaseException, service: str | None) -> None:
    assert faults.which(error) == service


def test_routes_and_the_catch_all_answer_503_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIL_RETRY_AFTER_S", "7")
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/redis")
    def redis_down() -> None:
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    @app.get("/db")
    def db_down() -> None:
        raise wrapped(sa_exc.OperationalError, psycopg.OperationalError("consuming input failed"), invalidated=True)

    @app.get("/bug")
    def bug() -> None:
        raise wrapped(sa_exc.OperationalError, sqlite3.OperationalError("no such column: x"))

    @app.middleware("http")
    async def looks_up_keys(request, call_next):  # type: ignore[no-untyped-def]  # like the guard, outside routes
        if request.url.path == "/middleware":
            raise wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked"))
        return await call_next(request)

    with TestClient(app, raise_server_exceptions=False) as client:
        for path, service in (("/redis", "online store"), ("/db", "database"), ("/middleware", "database")):
            answer = client.get(path)
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["Retry-After"] == "7"
            assert answer.json() == {"detail": f"the {service} is unavailable; retry in 7 s"}
        assert client.get("/bug").status_code == 500
