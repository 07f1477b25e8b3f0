"""A backing service that went away answers 503 with `Retry-After`, never 500; the next request tries it again.

The backing services are the application database (SQLite or PostgreSQL, through SQLAlchemy) and the online
store (Redis or SQLite, through Feast). Which of their errors mean "unavailable, try again later":

- Redis: `redis.exceptions.ConnectionError` (refused, reset, still loading its data after a restart) and
  `redis.exceptions.TimeoutError`. redis-py reconnects by itself on the next command.
- SQLAlchemy: a connection that was lost (`connection_invalidated`), could not be made, or that the server ended
  (PostgreSQL SQLSTATE classes 08 and 53, 57P01-57P03: shutdown, crash, still starting); SQLite's "database is
  locked" once the busy timeout has passed; the pool's own `DisconnectionError` and `TimeoutError`. Engines
  check connections before use (`pool_pre_ping`), so the first request after the server is back succeeds.

Any other database error (a missing table, a constraint) is a bug and stays a 500 with the trace in the log.
"""

from __future__ import annotations

import logging

import redis.exceptions
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc

from retail.settings import get_settings

log = logging.getLogger(__name__)

REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
POOL_DOWN = (sa_exc.DisconnectionError, sa_exc.TimeoutError)
SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy", "unable to open database file")
PG_DOWN_STATES = ("57P01", "57P02", "57P03")  # admin shutdown, crash shutdown, cannot connect now (starting)


def which(exc: BaseException) -> str | None:
    """The backing service `exc` says is unavailable ("database", "online store"), or None for any other error."""
    if isinstance(exc, REDIS_DOWN):
        return "online store"
    if isinstance(exc, POOL_DOWN):
        return "database"
    if isinstance(exc, sa_exc.DBAPIError) and _db_down(exc):
        return "database"
    return None


def _db_down(exc: sa_exc.DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):  # SQLite: only a lock held past the busy timeout
        return any(text in str(exc.orig).lower() for text in SQLITE_BUSY)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:  # PostgreSQL (psycopg) said why
        return sqlstate.startswith(("08", "53")) or sqlstate in PG_DOWN_STATES
    return True  # no SQLSTATE from a server driver: the connection itself failed (refused, closed mid-query)


def answer(exc: BaseException) -> JSONResponse | None:
    """The 503 for an error that means a backing service is down; None for any other error."""
    service = which(exc)
    if service is None:
        return None
    log.warning("%s unavailable: %s: %s", service, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
    retry = get_settings().retry_after_s
    return JSONResponse(
        {"detail": f"the {service} is unavailable; retry in {retry} s"},
        status_code=503,
        headers={"Retry-After": str(retry)},
    )


async def _unavailable(request: Request, exc: Exception) -> Response:
    response = answer(exc)
    if response is None:
        raise exc  # not an outage: the app's catch-all answers 500 and logs the trace
    return response


def install(app: FastAPI) -> None:
    """Answer 503 + Retry-After for outages raised by a route or a dependency.

    Errors raised outside the routes (a middleware's key look-up) reach the app's catch-all handler, which
    calls `answer` first.
    """
    for kind in (*REDIS_DOWN, *POOL_DOWN, sa_exc.DBAPIError):
        app.add_exception_handler(kind, _unavailable)
