"""Webhooks get every outbox entry written after they were added, signed, at least once, in order per order;
a hung receiver delays only itself, a refused entry is dead-lettered after N tries, delivered entries are pruned."""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import receivers
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail.db import connect
from serving.commerce import webhooks
from serving.commerce.tables import Outbox, WebhookDelivery
from serving.commerce.webhook_admin import (
    add_webhook,
    dead_letters,
    remove_webhook,
    retry,
    rotate_secret,
    webhook_status,
)
from serving.commerce.webhooks import deliver_due

T0 = datetime(2026, 7, 1, 12, 0, 0)
URL = "http://crm.example/hook"
RECEIVER_DOC = Path(__file__).parents[2] / "docs" / "guides" / "webhooks.md"  # the receiver example


class Receiver:
    """An httpx MockTransport handler: checks the signature, records what it was sent, fails ids in `failing`."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict] = []
        self.refused = 0  # requests whose signature did not verify
        self.failing: set[int] = set()
        self.on_request: Callable[[int], None] = lambda _id: None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.headers["X-Retail-Delivery"] == str(body["id"])
        if not webhooks.verify(self.secret, request.headers[webhooks.SIGNATURE_HEADER], request.content):
            self.refused += 1
            return httpx.Response(401, text="bad signature")
        self.on_request(body["id"])
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
def deliver(engine: Engine, receiver: Receiver) -> Callable[..., int]:
    """One delivery pass at `now` to `receiver` (through httpx's MockTransport)."""

    def run(now: datetime | None = T0, **options: int) -> int:
        return deliver_due(engine, now, transport=httpx.MockTransport(receiver), **options)

    return run


@pytest.fixture
def hook(engine: Engine, receiver: Receiver) -> int:
    row = add_webhook(engine, URL)
    receiver.secret = row.secret
    return row.id


@pytest.fixture
def emit(engine: Engine) -> Callable[..., int]:
    """Write an outbox entry as the order code does; its id."""

    def write(order_id: str, status: str, at: datetime = T0) -> int:
        with Session(engine) as s, s.begin():
            payload = json.dumps({"order_id": order_id, "status": status})
            entry = Outbox(
                order_id=order_id, customer_id="C1", kind="order.status_changed", payload=payload, created_at=at
            )
            s.add(entry)
            s.flush()
            return entry.id

    return write


def delivery(engine: Engine, outbox_id: int, webhook_id: int | None = None) -> WebhookDelivery:
    query = select(WebhookDelivery).where(WebhookDelivery.outbox_id == outbox_id)
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    with Session(engine) as s:
        row = s.scalar(query)
        assert row is not None
        return row


def test_every_entry_reaches_every_active_webhook_once(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    ids = [emit("O1", "placed"), emit("O2", "placed"), emit("O1", "paid")]
    assert deliver() == 3
    assert sorted(receiver.ids()) == ids
    first = receiver.received[0]
    assert first["kind"] == "order.status_changed" and first["data"] == {"order_id": "O1", "status": "placed"}
    assert delivery(engine, ids[2]).delivered_at == T0 and delivery(engine, ids[2]).attempts == 1
    assert deliver(T0 + timedelta(hours=1)) == 0  # a second pass sends nothing again
    assert len(receiver.received) == 3
    [status] = webhook_status(engine)
    assert (status.delivered, status.pending, status.failing, status.dead) == (3, 0, 0, 0)


def test_a_failed_delivery_is_retried_after_a_backoff(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    entry = emit("O1", "placed")
    receiver.failing.add(entry)
    assert deliver() == 0
    row = delivery(engine, entry)
    assert row.attempts == 1 and row.delivered_at is None and "500" in (row.last_error or "")
    assert row.next_attempt_at == T0 + webhooks.backoff(1)
    receiver.failing.clear()
    assert deliver(T0 + timedelta(milliseconds=500)) == 0  # not due yet: nothing sent
    assert receiver.received == []
    assert deliver(T0 + timedelta(seconds=2)) == 1
    row = delivery(engine, entry)
    assert row.attempts == 2 and row.delivered_at is not None and row.last_error is None
    assert webhooks.backoff(2) == timedelta(seconds=2) and webhooks.backoff(50) == timedelta(minutes=10)


def test_an_order_s_later_event_waits_for_its_earlier_one(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    placed, other, paid = emit("O1", "placed"), emit("O2", "placed"), emit("O1", "paid")
    receiver.failing.add(placed)
    assert deliver() == 1
    assert receiver.ids() == [other]  # O2 goes ahead; O1's "paid" is not sent before its "placed"
    assert deliver(T0 + timedelta(minutes=1)) == 0  # still failing
    assert receiver.ids() == [other]
    [status] = webhook_status(engine)
    assert (status.pending, status.failing) == (2, 1) and "CRM is down" in (status.last_error or "")
    receiver.failing.clear()
    assert deliver(T0 + timedelta(minutes=2)) == 2
    assert receiver.ids() == [other, placed, paid]


def test_backoff_and_lease_count_from_each_send(engine, hook, receiver, emit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A pass that takes a while: each send is leased, and its retry scheduled, from that send's own time."""
    clock = [T0]
    monkeypatch.setattr(webhooks, "_now", lambda: clock[0])
    leases: dict[int, datetime | None] = {}

    def slow_receiver(outbox_id: int) -> None:  # each answer takes a minute
        leases[outbox_id] = delivery(engine, outbox_id).next_attempt_at
        clock[0] += timedelta(minutes=1)

    receiver.on_request = slow_receiver
    first, second = emit("O1", "placed"), emit("O2", "placed")
    receiver.failing.add(second)
    deliver_due(engine, transport=httpx.MockTransport(receiver))
    assert leases == {first: T0 + webhooks.LEASE, second: T0 + timedelta(minutes=1) + webhooks.LEASE}
    assert delivery(engine, second).next_attempt_at == T0 + timedelta(minutes=2) + webhooks.backoff(1)


def test_a_claimed_attempt_is_not_taken_twice(engine, hook, emit) -> None:  # type: ignore[no-untyped-def]
    entry = emit("O1", "placed")
    assert webhooks._claim(engine, hook, entry, T0) is not None
    assert webhooks._claim(engine, hook, entry, T0) is None  # another worker's pass: leased
    assert webhooks._claim(engine, hook, entry, T0 + webhooks.LEASE) is not None  # the first worker died


def test_removed_webhooks_get_nothing_and_bad_urls_are_refused(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    remove_webhook(engine, hook)
    emit("O1", "placed")
    assert deliver() == 0 and receiver.received == []
    with pytest.raises(ValueError, match="no active webhook"):
        remove_webhook(engine, hook)
    with pytest.raises(ValueError, match="url: .*http"):
        add_webhook(engine, "ftp://crm.example/x")


# --- signatures ---------------------------------------------------------------------------------------------


def test_deliveries_are_signed_and_tampering_or_old_timestamps_fail(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def keep(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return receiver(request)

    transport = httpx.MockTransport(keep)
    emit("O1", "placed")
    assert deliver_due(engine, T0, transport=transport) == 1 and receiver.refused == 0  # the signature verified
    [request] = seen
    header, body = request.headers[webhooks.SIGNATURE_HEADER], request.content
    t = int(header.split(",")[0].removeprefix("t="))
    assert header == f"t={t},v1={webhooks.sign(receiver.secret, body, t).split('v1=')[1]}"
    assert webhooks.verify(receiver.secret, header, body, now=t + 299)
    assert not webhooks.verify(receiver.secret, header, body.replace(b"placed", b"paid"))  # tampered body
    assert not webhooks.verify(receiver.secret, header, body, now=t + 301)  # older than 5 minutes: a replay
    assert not webhooks.verify("whsec_other", header, body)
    assert not webhooks.verify(receiver.secret, f"t={t + 1}," + header.split(",")[1], body)  # another time
    assert not webhooks.verify(receiver.secret, "garbage", body) and not webhooks.verify(receiver.secret, "", body)
    assert not webhooks.verify(receiver.secret, f"t={t},v1=\u00e9", body)  # not hex: refused, never an error


def test_webhooks_have_their_own_secrets_and_rotation_replaces_one(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    other = add_webhook(engine, "http://erp.example/hook")
    old = receiver.secret
    assert old.startswith("whsec_") and len(old) == 54 and other.secret != old
    remove_webhook(engine, other.id)
    rotated = rotate_secret(engine, hook)
    assert rotated.secret != old
    entry = emit("O1", "placed")
    assert deliver() == 0 and receiver.refused == 1  # signed with the new secret: the old one fails
    receiver.secret = rotated.secret
    assert deliver(T0 + timedelta(minutes=1)) == 1 and receiver.ids() == [entry]
    with pytest.raises(ValueError, match="webhook_id: no active webhook has id 99"):
        rotate_secret(engine, 99)


def test_the_docs_receiver_example_is_the_tested_verify() -> None:
    assert inspect.getsource(webhooks.verify) in RECEIVER_DOC.read_text()


# --- isolation between receivers ----------------------------------------------------------------------------


def test_a_hung_receiver_does_not_delay_a_healthy_one(engine, emit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(webhooks, "DEADLINE_S", 120.0)  # the hung send stays in flight for the whole test
    with receivers.hung() as (hung_url, hung), receivers.healthy() as (healthy_url, healthy):
        stuck = add_webhook(engine, hung_url)  # first: the old single loop tried it first
        healthy.secret = add_webhook(engine, healthy_url).secret
        stop = webhooks.start(engine, interval_s=0.05)
        try:
            entry = emit("O1", "placed")
            assert receivers.wait_for(healthy.got.is_set), "the healthy webhook never got the event"
            assert [b["id"] for b in healthy.received] == [entry]
            assert receivers.wait_for(lambda: hung.open == 1)  # the hung send is still in flight ...
            with Session(engine) as s:  # ... and has neither failed nor been delivered
                row = s.get(WebhookDelivery, (stuck.id, entry))
                assert row is not None and row.delivered_at is None and row.last_error is None
        finally:
            stop()  # returns though a send is still in flight: it is cut off
        # the loop ends though the hung send had 120 s left: it was cut off, not waited for
        assert receivers.wait_for(lambda: not [t for t in threading.enumerate() if t.name == "webhooks"])
        assert healthy.refused == 0


def test_a_trickling_receiver_is_cut_off_at_the_whole_request_deadline(engine, emit, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(webhooks, "DEADLINE_S", 0.5)  # the trickle sends a byte every 0.1 s: no read times out
    with receivers.trickling() as url:
        hook = add_webhook(engine, url)
        entry = emit("O1", "placed")
        assert deliver_due(engine, T0) == 0
    row = delivery(engine, entry, hook.id)
    assert row.delivered_at is None and "deadline" in (row.last_error or "")


def test_only_the_first_bytes_of_an_error_body_are_read(engine, hook, emit) -> None:  # type: ignore[no-untyped-def]
    chunks_read = [0]

    async def huge() -> AsyncIterator[bytes]:
        for _ in range(10_000):  # 10 MB in 1 KB chunks
            chunks_read[0] += 1
            yield b"x" * 1024

    entry = emit("O1", "placed")
    assert deliver_due(engine, T0, transport=httpx.MockTransport(lambda _: httpx.Response(500, content=huge()))) == 0
    assert chunks_read[0] <= 2
    assert delivery(engine, entry).last_error == "HTTP 500: " + "x" * webhooks.ERROR_BODY_BYTES


# --- dead letters, new webhooks, pruning --------------------------------------------------------------------


def test_a_refused_entry_is_dead_lettered_and_the_order_flows_again(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    placed, paid = emit("O1", "placed"), emit("O1", "paid")
    receiver.failing.add(placed)
    for hour in range(3):  # three tries, each after the backoff
        assert deliver(T0 + timedelta(hours=hour), max_attempts=3) == 0
    row = delivery(engine, placed)
    assert row.dead_at == T0 + timedelta(hours=2) and row.attempts == 3 and row.next_attempt_at is None
    [dead] = dead_letters(engine)
    assert (dead.webhook_id, dead.outbox_id, dead.order_id, dead.attempts) == (hook, placed, "O1", 3)
    assert "CRM is down" in (dead.last_error or "")
    assert deliver(T0 + timedelta(hours=3), max_attempts=3) == 1  # the order's next event is no longer held
    assert receiver.ids() == [paid]
    [status] = webhook_status(engine)
    assert (status.delivered, status.pending, status.dead) == (1, 0, 1)

    receiver.failing.clear()
    assert retry(engine, placed) == 1
    assert dead_letters(engine) == []
    assert deliver(T0 + timedelta(hours=4), max_attempts=3) == 1
    assert receiver.ids() == [paid, placed]
    with pytest.raises(ValueError, match=f"no dead letter for id {placed}"):
        retry(engine, placed)
    with pytest.raises(ValueError, match="say which"):
        retry(engine)


def test_a_new_webhook_gets_only_what_is_written_after_it_was_added(engine, receiver, deliver, emit) -> None:  # type: ignore[no-untyped-def]
    emit("O1", "placed")
    emit("O1", "paid")
    receiver.secret = add_webhook(engine, URL).secret
    assert webhook_status(engine)[0].pending == 0
    shipped = emit("O1", "shipped")
    assert deliver() == 1
    assert receiver.ids() == [shipped]


def test_prune_drops_old_entries_every_active_webhook_has_delivered(engine, hook, deliver, receiver, emit) -> None:  # type: ignore[no-untyped-def]
    retention = timedelta(days=90)
    old = T0 - timedelta(days=91)
    delivered_old = emit("O1", "placed", old)
    refused_old = emit("O2", "placed", old)
    recent = emit("O3", "placed", T0 - timedelta(days=1))
    receiver.failing.add(refused_old)
    assert deliver() == 2
    later = add_webhook(engine, "http://erp.example/hook")  # added after them: owes none of them
    gone = add_webhook(engine, "http://gone.example/hook")
    remove_webhook(engine, gone.id)  # removed webhooks hold nothing back
    assert later.starts_after_id == recent

    assert webhooks.prune(engine, retention, T0) == 1
    with Session(engine) as s:
        assert sorted(s.scalars(select(Outbox.id))) == [refused_old, recent]
        assert s.get(WebhookDelivery, (hook, delivered_old)) is None  # its delivery record went with it
    dead_old = refused_old
    deliver(T0 + timedelta(hours=1), max_attempts=2)  # dead-lettered now: kept so it can be retried
    assert webhooks.prune(engine, retention, T0 + timedelta(hours=2)) == 0
    retry(engine, dead_old)
    receiver.failing.clear()
    assert deliver(T0 + timedelta(hours=3)) == 1
    assert webhooks.prune(engine, retention, T0 + timedelta(hours=4)) == 1
