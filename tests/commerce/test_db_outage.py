"""The database going away: 503 with Retry-After (never 500), nothing acknowledged lost, recovery on its own.

- PostgreSQL stopped and started again under a stream of orders (the order API in a uvicorn process, on a private
  server of its own: the shared one other tests use is never stopped). Every 201 is in the database whole, the
  failures are 503s that a retry with the same Idempotency-Key turns into exactly one order, no order is
  half-written, and orders succeed again once the server is back.
- SQLite locked by another writer past the busy timeout.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pgcluster as pg
import pytest
from fastapi.testclient import TestClient
from orderserver import start_server, stop
from shopdata import key, order_body, stock_shop
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session

from retail.db import connect
from serving.commerce.app import create_app
from serving.commerce.checks import violations
from serving.commerce.tables import Inventory, Order, OrderEvent, OrderLine

pytestmark = pytest.mark.integration
CLIENTS = 6
WAIT_S = 120.0  # bounds on waiting for the stream to get somewhere; never a measured time


@dataclass
class Sent:
    key: str
    body: dict[str, Any]
    status: int | None  # None: no answer (the connection broke)
    answer: Any
    retry_after: str | None
    after_restart: bool


class Stream:
    """Clients placing orders in a loop until `finish()`; every request and its answer is kept."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.url, self.headers = url, headers
        self.sent: list[Sent] = []
        self.restarted = threading.Event()
        self._done = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(w,)) for w in range(CLIENTS)]

    def __enter__(self) -> Stream:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        for t in self._threads:
            t.join(timeout=60)

    def _client(self, worker: int) -> None:
        rng = random.Random(worker)
        with httpx.Client(base_url=self.url, headers=self.headers, timeout=30) as client:
            n = 0
            while not self._done.is_set():
                idem = f"w{worker}-{n}"
                lines = [("P2", rng.randint(1, 3))] + ([("P1", 1)] if rng.random() < 0.5 else [])
                body = order_body(lines=lines, customer_id=rng.choice(["C1", "C2", None]))
                after = self.restarted.is_set()
                try:
                    answer = client.post("/v1/orders", json=body, headers={"Idempotency-Key": idem})
                    status, payload = answer.status_code, answer.json()
                    retry = answer.headers.get("Retry-After")
                except httpx.TransportError:
                    status, payload, retry = None, None, None
                self.sent.append(Sent(idem, body, status, payload, retry, after))
                n += 1
                if status == 503:
                    time.sleep(0.05)  # a client backing off (not the Retry-After itself: the test would take long)

    def count(self, status: int, after_restart: bool | None = None) -> int:
        return sum(1 for s in self.sent if s.status == status and after_restart in (None, s.after_restart))

    def wait_until(self, status: int, n: int, after_restart: bool | None = None) -> None:
        deadline = time.monotonic() + WAIT_S
        while self.count(status, after_restart) < n:
            assert time.monotonic() < deadline, f"{self.count(status, after_restart)} answers {status} of {n}"
            time.sleep(0.02)


@pytest.fixture
def private_postgres() -> Iterator[pg.Cluster]:
    """A PostgreSQL server this test alone may stop (never the shared one of `RETAIL_TEST_POSTGRES_URL`)."""
    if pg.binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI: .ci/run installs it (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql)")
    with pg.cluster() as cluster:
        yield cluster


def stocked(url: str) -> tuple[Engine, dict[str, str]]:
    engine = stock_shop(connect(url))
    with Session(engine) as s, s.begin():
        s.execute(update(Inventory).where(Inventory.store_id == "WEB").values(on_hand=1_000_000))
    return engine, key(engine, "admin")


def test_postgresql_restart_under_a_stream_of_orders(private_postgres: pg.Cluster, tmp_path: Path) -> None:
    url = pg.fresh_database(private_postgres.url)
    engine, headers = stocked(url)
    process, base = start_server(url, tmp_path)
    try:
        with Stream(base, headers) as stream:
            stream.wait_until(201, 20)
            private_postgres.stop("fast")  # every session ended, new connections refused
            stream.wait_until(503, 5)
            private_postgres.start()
            stream.restarted.set()
            stream.wait_until(201, 20, after_restart=True)  # recovered by itself: no restart of the service
        statuses = {s.status for s in stream.sent}
        assert statuses <= {201, 503}, statuses  # never a 500, never a dropped connection
        assert all(s.retry_after is not None and int(s.retry_after) > 0 for s in stream.sent if s.status == 503)
        acknowledged = [s for s in stream.sent if s.status == 201]
        refused = [s for s in stream.sent if s.status == 503]
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            for s in refused:  # a 503 is safe to retry with the same key: one order, never two
                retried = client.post("/v1/orders", json=s.body, headers={"Idempotency-Key": s.key})
                assert retried.status_code == 201, retried.text
    finally:
        stop(process)
    with Session(engine) as s:
        for sent in acknowledged:  # every 201 is in the database, whole
            order = s.get(Order, sent.answer["order_id"])
            assert order is not None, sent.answer
            lines = s.scalars(select(OrderLine).where(OrderLine.order_id == order.order_id)).all()
            assert sorted((x.product_id, x.quantity) for x in lines) == sorted(
                (x["product_id"], x["quantity"]) for x in sent.answer["lines"]
            )
            assert s.scalar(select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order.order_id))
        stored = int(s.scalar(select(func.count()).select_from(Order)) or 0)
    assert stored == len(acknowledged) + len(refused)
    assert violations(engine) == []  # stock, reservations = open lines, totals, histories: nothing half-written


def test_sqlite_locked_past_the_busy_timeout_is_a_503(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    engine, headers = stocked(f"sqlite:///{path}")
    event.listen(engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout=200"))  # not 30 s here
    engine.dispose()
    app = create_app()
    app.state.db_engine = engine
    body, idem = order_body(), {"Idempotency-Key": "locked-1"}
    holder = sqlite3.connect(path, isolation_level=None)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/v1/orders/none", headers=headers)  # the key is looked up (and cached) before the lock
        holder.execute("BEGIN IMMEDIATE")  # another process writing for longer than the busy timeout
        try:
            locked = client.post("/v1/orders", json=body, headers=headers | idem)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert locked.status_code == 503, locked.text
        assert int(locked.headers["Retry-After"]) > 0 and "database" in locked.json()["detail"]
        placed = client.post("/v1/orders", json=body, headers=headers | idem)  # the lock is gone: it goes through
        assert placed.status_code == 201, placed.text
