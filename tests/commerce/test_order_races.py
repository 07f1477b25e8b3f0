"""Races through HTTP against a real server process (uvicorn), on SQLite and on PostgreSQL.

- 50 concurrent orders for the last unit of a product: exactly one 201, the other 49 get a 409, and stock
  never goes negative;
- 20 concurrent retries of one order with the same Idempotency-Key (for the last unit, so a retry that missed
  the first order would also run out of stock): one order, every answer the same 201.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import httpx
import pytest
from orderserver import start_server, stop
from shopdata import order_body, stock, stock_shop
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce.tables import Order

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(db_url: str) -> Engine:
    return stock_shop(connect(db_url))


@pytest.fixture
def server(shop: Engine, db_url: str, tmp_path: Path) -> Iterator[str]:
    process, url = start_server(db_url, tmp_path)
    try:
        yield url
    finally:
        stop(process)


def burst(url: str, headers: dict[str, str], bodies: list[tuple[str, dict[str, object]]]) -> list[httpx.Response]:
    """POST every (key, body) at once: one thread each, released together."""
    gate = Barrier(len(bodies))
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    with httpx.Client(base_url=url, headers=headers, timeout=120, limits=limits) as client:

        def send(item: tuple[str, dict[str, object]]) -> httpx.Response:
            gate.wait()
            return client.post("/v1/orders", json=item[1], headers={"Idempotency-Key": item[0]})

        with ThreadPoolExecutor(len(bodies)) as pool:
            return list(pool.map(send, bodies))


def admin(engine: Engine) -> dict[str, str]:
    plain, _ = auth.create_key(engine, "admin", name="races")
    return {"Authorization": f"Bearer {plain}"}


def orders_count(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(Order)) or 0)


def test_fifty_orders_for_the_last_unit_sell_it_once(shop: Engine, server: str) -> None:
    assert stock(shop, "S2", "P3") == (1, 0)
    body = order_body(store_id="S2", fulfilment="pickup", lines=[("P3", 1)])
    answers = burst(server, admin(shop), [(f"last-{i}", body) for i in range(50)])
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 49, codes
    assert all("'P3' has 0 available" in a.json()["detail"] for a in answers if a.status_code == 409)
    assert stock(shop, "S2", "P3") == (1, 1) and orders_count(shop) == 1


def test_twenty_retries_with_one_key_make_one_order(shop: Engine, server: str) -> None:
    body = order_body(store_id="S2", fulfilment="pickup", lines=[("P3", 1)])
    answers = burst(server, admin(shop), [("one-key", body)] * 20)
    assert [a.status_code for a in answers] == [201] * 20, [a.text for a in answers if a.status_code != 201]
    assert len({a.json()["order_id"] for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    assert stock(shop, "S2", "P3") == (1, 1) and orders_count(shop) == 1
