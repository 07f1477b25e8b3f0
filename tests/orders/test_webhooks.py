"""Webhooks get every outbox entry at least once, in order per order, with retries and backoff on failure."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail.db import connect
from retail.db.tables import Outbox, WebhookDelivery
from serving.orders import webhooks
from serving.orders.webhooks import add_webhook, deliver_due, remove_webhook, webhook_status

T0 = datetime(2026, 7, 1, 12, 0, 0)
URL = "http://crm.example/hook"


class Receiver:
    """An httpx MockTransport that records what it was sent and fails the outbox ids in `failing`."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.failing: set[int] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.headers["X-Retail-Delivery"] == str(body["id"])
        if body["id"] in self.failing:
            return httpx.Response(500, text="CRM is down")
        self.received.append(body)
        return httpx.Response(204)

    def ids(self) -> list[int]:
        return [b["id"] for b in self.received]


@pytest.fixture
def engine(db_url: str) -> Engine:
    return connect(db_url)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def client(receiver: Receiver):  # type: ignore[no-untyped-def]
    with httpx.Client(transport=httpx.MockTransport(receiver)) as c:
        yield c


@pytest.fixture
def emit(engine: Engine) -> Callable[[str, str], int]:
    """Write an outbox entry as the order code does; its id."""

    def write(order_id: str, status: str) -> int:
        with Session(engine) as s, s.begin():
            entry = Outbox(
                order_id=order_id,
                customer_id="C1",
                kind="order.status_changed",
                payload=json.dumps({"order_id": order_id, "status": status}),
                created_at=T0,
            )
            s.add(entry)
            s.flush()
            return entry.id

    return write


def delivery(engine: Engine, outbox_id: int) -> WebhookDelivery:
    with Session(engine) as s:
        row = s.scalar(select(WebhookDelivery).where(WebhookDelivery.outbox_id == outbox_id))
        assert row is not None
        return row


def test_every_entry_reaches_every_active_webhook_once(engine, client, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    add_webhook(engine, URL)
    ids = [emit("O1", "placed"), emit("O2", "placed"), emit("O1", "paid")]
    assert deliver_due(engine, client, T0) == 3
    assert sorted(receiver.ids()) == ids
    first = receiver.received[0]
    assert first["kind"] == "order.status_changed" and first["data"] == {"order_id": "O1", "status": "placed"}
    assert delivery(engine, ids[2]).delivered_at == T0 and delivery(engine, ids[2]).attempts == 1
    assert deliver_due(engine, client, T0 + timedelta(hours=1)) == 0  # a second pass sends nothing again
    assert len(receiver.received) == 3
    [status] = webhook_status(engine)
    assert (status.delivered, status.pending, status.failing) == (3, 0, 0)


def test_a_failed_delivery_is_retried_after_a_backoff(engine, client, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    add_webhook(engine, URL)
    entry = emit("O1", "placed")
    receiver.failing.add(entry)
    assert deliver_due(engine, client, T0) == 0
    row = delivery(engine, entry)
    assert row.attempts == 1 and row.delivered_at is None and "500" in (row.last_error or "")
    assert row.next_attempt_at == T0 + webhooks.backoff(1)
    receiver.failing.clear()
    assert deliver_due(engine, client, T0 + timedelta(milliseconds=500)) == 0  # not due yet: nothing sent
    assert receiver.received == []
    assert deliver_due(engine, client, T0 + timedelta(seconds=2)) == 1
    row = delivery(engine, entry)
    assert row.attempts == 2 and row.delivered_at is not None and row.last_error is None
    assert webhooks.backoff(2) == timedelta(seconds=2) and webhooks.backoff(50) == timedelta(minutes=10)


def test_an_order_s_later_event_waits_for_its_earlier_one(engine, client, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    add_webhook(engine, URL)
    placed, other, paid = emit("O1", "placed"), emit("O2", "placed"), emit("O1", "paid")
    receiver.failing.add(placed)
    assert deliver_due(engine, client, T0) == 1
    assert receiver.ids() == [other]  # O2 goes ahead; O1's "paid" is not sent before its "placed"
    assert deliver_due(engine, client, T0 + timedelta(minutes=1)) == 0  # still failing
    assert receiver.ids() == [other]
    [status] = webhook_status(engine)
    assert (status.pending, status.failing) == (2, 1) and "CRM is down" in (status.last_error or "")
    receiver.failing.clear()
    assert deliver_due(engine, client, T0 + timedelta(minutes=2)) == 2
    assert receiver.ids() == [other, placed, paid]


def test_a_claimed_attempt_is_not_taken_twice(engine, emit) -> None:  # type: ignore[no-untyped-def]
    hook = add_webhook(engine, URL)
    entry = emit("O1", "placed")
    assert webhooks._claim(engine, hook.id, entry, T0) is not None
    assert webhooks._claim(engine, hook.id, entry, T0) is None  # another worker's pass: leased
    assert webhooks._claim(engine, hook.id, entry, T0 + webhooks.LEASE) is not None  # the first worker died


def test_removed_webhooks_get_nothing_and_bad_urls_are_refused(engine, client, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    hook = add_webhook(engine, URL)
    remove_webhook(engine, hook.id)
    emit("O1", "placed")
    assert deliver_due(engine, client, T0) == 0 and receiver.received == []
    with pytest.raises(ValueError, match="no active webhook"):
        remove_webhook(engine, hook.id)
    with pytest.raises(ValueError, match="http"):
        add_webhook(engine, "ftp://crm.example/x")


def test_the_background_loop_delivers_until_stopped(engine, client, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    add_webhook(engine, URL)
    stop = webhooks.start(engine, interval_s=0.05, client=client)
    try:
        entry = emit("O1", "placed")
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop()
    assert receiver.ids() == [entry]
