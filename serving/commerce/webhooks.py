"""Webhooks: every outbox entry is POSTed, signed, to every active webhook, at least once, in order per order.

Each webhook has its own lane (an asyncio task): deliveries to different webhooks run side by side, so a slow,
hung or dead receiver only delays itself. A request has a whole deadline (`DEADLINE_S`: connecting, sending and
the answer's headers; a receiver trickling bytes is cut off too), and only the first `ERROR_BODY_BYTES` of an
error answer are read. Per webhook and order only the oldest entry not yet delivered nor dead-lettered is sent,
so an order's later event never overtakes an earlier one that is still being retried.

Each attempt is recorded in `webhook_deliveries`. Before sending, the attempt is claimed by moving
`next_attempt_at` past the deadline (a lease taken at the moment of that send), so several service workers never
send one entry at once and one that dies mid-send only delays a retry. A failure is retried after 1 s, 2 s,
4 s, ... (at most 10 min) counted from when that send ended; after `webhook_max_attempts` tries (a setting) the
entry is dead-lettered: it is no longer tried, the order's later entries flow again, and `retry` requeues it.
Entries every active webhook has delivered are pruned once older than `webhook_retention_days` (a setting).

Receivers should treat `X-Retail-Delivery` (the outbox id) as an idempotency key and check
`X-Retail-Signature` with `verify` (docs/guides/webhooks.md's receiver example is this function).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import Engine, and_, delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retail import db
from retail.settings import get_settings
from serving.commerce.tables import Outbox, Webhook, WebhookDelivery

log = logging.getLogger(__name__)
DEADLINE_S = 10.0  # a whole request, from connecting to the answer's status line and headers
CONNECT_TIMEOUT_S = 5.0
ERROR_BODY_BYTES = 200  # what is read of an error answer, for `webhooks list`
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 600.0
LEASE = timedelta(seconds=DEADLINE_S + 10)  # a claimed attempt is not taken by another worker before this
MAX_PER_PASS = 1000  # deliveries per webhook per pass, so one pass never runs for long
PRUNE_EVERY_S = 3600.0
STOP_WAIT_S = 2.0  # stop() waits at most this long; an in-flight send is abandoned (its lease lets it retry)
SIGNATURE_HEADER = "X-Retail-Signature"
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s, ... capped at 10 minutes."""
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S))


# --- signatures ---------------------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Retail-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """True when `header` (X-Retail-Signature) signs the raw `body` with `secret`, made within `tolerance` s."""
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    try:
        sent = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False  # too old (a replay) or from a clock far ahead
    expected = hmac.new(secret.encode(), f"{sent}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), fields.get("v1", "").encode())


# --- what is due --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hook:
    """What a lane needs of a webhook (re-read every pass, so a rotated secret is used at once)."""

    id: int
    url: str
    secret: str
    starts_after_id: int


def _hooks(engine: Engine, webhook_id: int | None = None) -> list[Hook]:
    query = select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)
    if webhook_id is not None:
        query = query.where(Webhook.id == webhook_id)
    with Session(db.reader(engine)) as s:
        return [Hook(h.id, h.url, h.secret, h.starts_after_id) for h in s.scalars(query)]


def _open(webhook_id: int) -> Any:
    """Outbox rows joined to this webhook's delivery row, where it is neither delivered nor dead-lettered."""
    joined = and_(WebhookDelivery.outbox_id == Outbox.id, WebhookDelivery.webhook_id == webhook_id)
    return (
        select(Outbox.id)
        .outerjoin(WebhookDelivery, joined)
        .where(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.dead_at.is_(None))
    )


def _heads(engine: Engine, hook: Hook, now: datetime) -> list[int]:
    """Per order, the oldest entry this webhook still owes, where that entry is due now."""
    heads = (
        _open(hook.id)
        .with_only_columns(func.min(Outbox.id).label("id"))
        .where(Outbox.id > hook.starts_after_id)
        .group_by(Outbox.order_id)
        .subquery()
    )
    mine = and_(WebhookDelivery.outbox_id == heads.c.id, WebhookDelivery.webhook_id == hook.id)
    due = (
        select(heads.c.id)
        .outerjoin(WebhookDelivery, mine)
        .where((WebhookDelivery.next_attempt_at.is_(None)) | (WebhookDelivery.next_attempt_at <= now))
        .order_by(heads.c.id)
        .limit(MAX_PER_PASS)
    )
    with Session(db.reader(engine)) as s:
        return list(s.scalars(due))


def _next_of_order(engine: Engine, hook: Hook, entry: Outbox) -> int | None:
    """The order's next entry after `entry` that this webhook still owes."""
    query = _open(hook.id).where(Outbox.order_id == entry.order_id, Outbox.id > entry.id).order_by(Outbox.id)
    with Session(db.reader(engine)) as s:
        return s.scalar(query.limit(1))


def _claim(engine: Engine, webhook_id: int, outbox_id: int, now: datetime) -> Outbox | None:
    """Take one attempt at an entry (attempts + 1, leased from `now`); None when not due or another worker has it."""
    with Session(engine, expire_on_commit=False) as s:
        try:
            with s.begin():
                entry = s.get(Outbox, outbox_id)
                if entry is None:
                    return None
                claimed = s.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.webhook_id == webhook_id,
                        WebhookDelivery.outbox_id == outbox_id,
                        WebhookDelivery.delivered_at.is_(None),
                        WebhookDelivery.dead_at.is_(None),
                        (WebhookDelivery.next_attempt_at.is_(None)) | (WebhookDelivery.next_attempt_at <= now),
                    )
                    .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + LEASE)
                )
                if claimed.rowcount == 0:  # type: ignore[attr-defined]
                    if s.get(WebhookDelivery, (webhook_id, outbox_id)) is not None:
                        return None  # delivered, dead, leased by another worker, or not due yet
                    s.add(
                        WebhookDelivery(
                            webhook_id=webhook_id, outbox_id=outbox_id, attempts=1, next_attempt_at=now + LEASE
                        )
                    )
        except IntegrityError:  # another worker created the row first: it has this attempt
            return None
        return entry


def _record(engine: Engine, webhook_id: int, outbox_id: int, now: datetime, error: str | None, tries: int) -> None:
    """The attempt's outcome: delivered, retried after a backoff from `now`, or dead after `tries` attempts."""
    with Session(engine) as s, s.begin():
        row = s.get(WebhookDelivery, (webhook_id, outbox_id))
        if row is None:
            return
        if error is None:
            row.delivered_at, row.next_attempt_at, row.last_error = now, None, None
            return
        row.last_error = error[:1000]
        if row.attempts >= tries:
            row.dead_at, row.next_attempt_at = now, None
            log.warning("webhook %d: outbox %d dead-lettered after %d tries", webhook_id, outbox_id, row.attempts)
        else:
            row.next_attempt_at = now + backoff(row.attempts)


def prune(engine: Engine, retention: timedelta, now: datetime | None = None) -> int:
    """Delete entries older than `retention` that every active webhook has delivered (or was added after)."""
    owed = (
        select(Webhook.id)
        .where(Webhook.active.is_(True), Webhook.starts_after_id < Outbox.id)
        .where(
            ~exists()
            .where(
                WebhookDelivery.webhook_id == Webhook.id,
                WebhookDelivery.outbox_id == Outbox.id,
                WebhookDelivery.delivered_at.is_not(None),
            )
            .correlate_except(WebhookDelivery)
        )
    )
    cutoff = (now or _now()) - retention
    with Session(engine) as s, s.begin():
        result = s.execute(
            delete(Outbox)
            .where(Outbox.created_at < cutoff, ~owed.exists())
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- sending ------------------------------------------------------------------------------------------------


def _body(entry: Outbox) -> bytes:
    body = {
        "id": entry.id,
        "kind": entry.kind,
        "order_id": entry.order_id,
        "customer_id": entry.customer_id,
        "created_at": entry.created_at.isoformat(),
        "data": json.loads(entry.payload),
    }
    return json.dumps(body, separators=(",", ":")).encode()


async def _send(client: httpx.AsyncClient, hook: Hook, entry: Outbox) -> str | None:
    """POST one entry within the deadline; None when the receiver answered 2xx, else what went wrong."""
    body = _body(entry)
    headers = {
        "Content-Type": "application/json",
        "X-Retail-Event": entry.kind,
        "X-Retail-Delivery": str(entry.id),
        SIGNATURE_HEADER: sign(hook.secret, body),
    }
    try:
        async with asyncio.timeout(DEADLINE_S), client.stream("POST", hook.url, content=body, headers=headers) as r:
            if r.is_success:
                return None  # the body of a success is never read
            head = b""
            async for chunk in r.aiter_bytes():
                head += chunk
                if len(head) >= ERROR_BODY_BYTES:
                    break
            return f"HTTP {r.status_code}: {head[:ERROR_BODY_BYTES].decode(errors='replace')}"
    except TimeoutError:
        return f"no answer within the {DEADLINE_S:g} s deadline"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


class _Deliverer:
    """Passes over the outbox, one webhook per lane; database work runs in `pool` so it never blocks the loop."""

    def __init__(
        self, engine: Engine, client: httpx.AsyncClient, clock: Callable[[], datetime], tries: int, pool: Any
    ) -> None:
        self.engine, self.client, self.clock, self.tries, self.pool = engine, client, clock, tries, pool

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def one_pass(self, hook: Hook) -> tuple[int, int]:
        """Send what is due to one webhook, in order per order: (attempts made, deliveries)."""
        sent = delivered = 0
        for head in await self._db(_heads, self.engine, hook, self.clock()):
            following: int | None = head
            while following is not None and sent < MAX_PER_PASS:
                entry = await self._db(_claim, self.engine, hook.id, following, self.clock())
                if entry is None:
                    break
                error = await _send(self.client, hook, entry)
                await self._db(_record, self.engine, hook.id, entry.id, self.clock(), error, self.tries)
                sent += 1
                if error is not None:
                    log.warning("webhook %d: outbox %d not delivered: %s", hook.id, entry.id, error)
                    break
                delivered += 1
                following = await self._db(_next_of_order, self.engine, hook, entry)
        return sent, delivered

    async def lane(self, webhook_id: int) -> None:
        """Passes for one webhook until nothing is due (the webhook re-read each time)."""
        while True:
            hooks = await self._db(_hooks, self.engine, webhook_id)
            if not hooks or (await self.one_pass(hooks[0]))[0] == 0:
                return


def _tries(max_attempts: int | None) -> int:
    return max_attempts or get_settings().webhook_max_attempts


def deliver_due(
    engine: Engine,
    now: datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_attempts: int | None = None,
) -> int:
    """One pass over every active webhook, side by side; how many entries were delivered (tests, tools)."""

    async def run() -> int:
        clock = (lambda: now) if now is not None else _now
        with ThreadPoolExecutor(4, thread_name_prefix="webhooks-db") as pool:
            async with httpx.AsyncClient(transport=transport, timeout=_timeout()) as client:
                d = _Deliverer(engine, client, clock, _tries(max_attempts), pool)
                hooks = await d._db(_hooks, engine)
                done = await asyncio.gather(*(d.one_pass(h) for h in hooks))
        return sum(delivered for _, delivered in done)

    return asyncio.run(run())


def _timeout() -> httpx.Timeout:
    return httpx.Timeout(DEADLINE_S, connect=CONNECT_TIMEOUT_S)


def start(
    engine: Engine,
    interval_s: float = 1.0,
    transport: httpx.AsyncBaseTransport | None = None,
    max_attempts: int | None = None,
    retention: timedelta | None = None,
) -> Callable[[], None]:
    """Deliver (and prune hourly) in a background thread until the returned `stop()`, which returns promptly."""
    settings = get_settings()
    tries = max_attempts or settings.webhook_max_attempts
    keep = retention or timedelta(days=settings.webhook_retention_days)
    loop = asyncio.new_event_loop()
    pool = ThreadPoolExecutor(8, thread_name_prefix="webhooks-db")
    stopping = asyncio.Event()

    async def serve() -> None:
        lanes: dict[int, asyncio.Task[None]] = {}
        next_prune = 0.0
        async with httpx.AsyncClient(transport=transport, timeout=_timeout()) as client:
            d = _Deliverer(engine, client, _now, tries, pool)
            try:
                while not stopping.is_set():
                    try:
                        for hook in await d._db(_hooks, engine):
                            lane = lanes.get(hook.id)
                            if lane is None or lane.done():
                                if lane is not None and lane.exception() is not None:
                                    log.error("webhook %d: lane failed", hook.id, exc_info=lane.exception())
                                lanes[hook.id] = asyncio.create_task(d.lane(hook.id), name=f"webhook-{hook.id}")
                        if time.monotonic() >= next_prune:
                            if pruned := await d._db(prune, engine, keep):
                                log.info("pruned %d delivered outbox entries older than %s", pruned, keep)
                            next_prune = time.monotonic() + PRUNE_EVERY_S
                    except Exception:  # a database hiccup must not end deliveries for good
                        log.exception("webhook delivery pass failed")
                    try:
                        await asyncio.wait_for(stopping.wait(), interval_s)
                    except TimeoutError:
                        pass
            finally:
                for task in lanes.values():
                    task.cancel()  # an in-flight send is cut off; its lease lets a later pass retry it
                await asyncio.gather(*lanes.values(), return_exceptions=True)

    def run() -> None:
        try:
            loop.run_until_complete(serve())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            loop.close()

    thread = threading.Thread(target=run, name="webhooks", daemon=True)
    thread.start()

    def stop() -> None:
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop closed meanwhile: nothing to stop
                pass
        thread.join(timeout=STOP_WAIT_S)

    return stop
