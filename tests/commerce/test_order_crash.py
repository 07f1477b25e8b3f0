"""The server killed with SIGKILL in the middle of a burst of orders, then restarted (SQLite and PostgreSQL).

Every order that got a 201 is there whole (same lines, same total); none is half-written; the invariants of
`retail db check` hold; and a request whose answer was lost in the crash, retried with its Idempotency-Key,
gets its order (placed once) rather than a second one.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from orderserver import start_server, stop
from shopdata import order_body, stock_shop
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce.checks import violations
from serving.commerce.tables import Inventory, Order

pytestmark = pytest.mark.integration
CLIENTS = 8


def _client_loop(url: str, headers: dict[str, str], worker: int, stop_at: float, sent: list) -> None:  # type: ignore[type-arg]
    rng = random.Random(worker)
    with httpx.Client(base_url=url, headers=headers, timeout=10) as client:
        n = 0
        while time.monotonic() < stop_at:
            key = f"w{worker}-{n}"
            lines = [("P2", rng.randint(1, 3))] + ([("P1", 1)] if rng.random() < 0.5 else [])
            body = order_body(lines=lines, customer_id=rng.choice(["C1", "C2", None]))
            try:
                answer = client.post("/v1/orders", json=body, headers={"Idempotency-Key": key})
                sent.append((key, body, answer.status_code, answer.json()))
            except httpx.TransportError:
                sent.append((key, body, None, None))  # the crash: outcome unknown to the client
                return
            n += 1


def test_sigkill_mid_burst_loses_no_acknowledged_order(db_url: str, tmp_path: Path) -> None:
    engine: Engine = stock_shop(connect(db_url))
    with Session(engine) as s, s.begin():
        s.execute(update(Inventory).where(Inventory.store_id == "WEB").values(on_hand=100_000))
    key, _ = auth.create_key(engine, "admin", name="crash")
    headers = {"Authorization": f"Bearer {key}"}
    process, url = start_server(db_url, tmp_path)
    sent: list = []  # type: ignore[type-arg]
    try:
        threads = [
            threading.Thread(target=_client_loop, args=(url, headers, w, time.monotonic() + 30, sent))
            for w in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while sum(1 for x in sent if x[2] == 201) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()  # SIGKILL: no shutdown, transactions cut wherever they are
        process.wait(timeout=30)
        for t in threads:
            t.join(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    acknowledged = [x for x in sent if x[2] == 201]
    unknown = [x for x in sent if x[2] is None]
    assert len(acknowledged) >= 40 and all(x[2] in (201, None) for x in sent), {x[2] for x in sent}
    process, url = start_server(db_url, tmp_path)
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            for _, _, _, order in acknowledged:
                stored = client.get(f"/v1/orders/{order['order_id']}")
                assert stored.status_code == 200 and stored.json() == order
            for key_, body, _, _ in unknown:  # the client retries what it never heard back about
                retried = client.post("/v1/orders", json=body, headers={"Idempotency-Key": key_})
                assert retried.status_code == 201, retried.text
    finally:
        stop(process)
    with Session(engine) as s:
        stored_orders = int(s.scalar(select(func.count()).select_from(Order)) or 0)
    assert stored_orders == len(acknowledged) + len(unknown)
    assert violations(engine) == []
