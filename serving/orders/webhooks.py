"""Webhooks: every outbox entry is POSTed as JSON to every active webhook, at least once, in order per order.

`deliver_due` makes one pass; `start` runs passes in a background thread. Per webhook and order only the oldest
undelivered entry is ever sent, so an order's later event never overtakes an earlier one that is still failing.
Each attempt is recorded in `webhook_deliveries` (attempts, last_error, next_attempt_at, delivered_at); a failure
is retried after an exponential backoff (1 s doubling up to 10 min), forever: a receiver that comes back gets
everything. Before sending, an attempt is claimed by moving `next_attempt_at` past the send's timeout, so
several service workers never send the same entry at once, and one that dies mid-send only delays a retry.

Receivers should treat `X-Retail-Delivery` (the outbox id) as an idempotency key: at least once means a
delivery whose answer was lost is sent again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retail import db
from retail.db.tables import Outbox, Webhook, WebhookDelivery

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 600.0
LEASE = timedelta(seconds=TIMEOUT_S + 10)  # a claimed attempt is not taken by another worker before this
MAX_PER_PASS = 1000  # deliveries per webhook per pass, so one pass never runs for long


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s, ... capped at 10 minutes."""
    return timedelta(seconds=min(BACKOFF_BASE_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S))


# --- registration -------------------------------------------------------------------------------------------


def add_webhook(engine: Engine, url: str) -> Webhook:
    """Register an http(s) URL; it is sent every notification in the outbox, the earlier ones included."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"a webhook needs an http:// or https:// URL with a host, not {url!r}")
    with Session(engine, expire_on_commit=False) as s, s.begin():
        row = Webhook(url=url, created_at=_now(), active=True)
        s.add(row)
    return row


def remove_webhook(engine: Engine, webhook_id: int) -> Webhook:
    """Deactivate a webhook: nothing more is sent to it; what it received stays on record."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        row = s.get(Webhook, webhook_id)
        if row is None or not row.active:
            raise ValueError(f"no active webhook has id {webhook_id}: see `retail webhooks list`")
        row.active = False
    return row


@dataclass(frozen=True)
class WebhookStatus:
    id: int
    url: str
    delivered: int
    pending: int
    failing: int  # pending entries with at least one failed attempt
    last_error: str | None


def webhook_status(engine: Engine) -> list[WebhookStatus]:
    """Each active webhook with its delivered, pending and failing counts and its latest error."""
    with Session(db.reader(engine)) as s:
        total = s.scalar(select(func.count()).select_from(Outbox)) or 0
        result = []
        for hook in s.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)):
            mine = select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id).subquery()
            delivered = s.scalar(select(func.count()).where(mine.c.delivered_at.is_not(None))) or 0
            failing = s.scalar(select(func.count()).where(mine.c.delivered_at.is_(None), mine.c.attempts > 0)) or 0
            last_error = s.scalar(
                select(mine.c.last_error)
                .where(mine.c.delivered_at.is_(None), mine.c.last_error.is_not(None))
                .order_by(mine.c.outbox_id.desc())
                .limit(1)
            )
            result.append(WebhookStatus(hook.id, hook.url, delivered, total - delivered, failing, last_error))
        return result


# --- delivery -----------------------------------------------------------------------------------------------


def _body(entry: Outbox) -> dict[str, object]:
    return {
        "id": entry.id,
        "kind": entry.kind,
        "order_id": entry.order_id,
        "customer_id": entry.customer_id,
        "created_at": entry.created_at.isoformat(),
        "data": json.loads(entry.payload),
    }


def _heads(engine: Engine, webhook_id: int, now: datetime) -> list[int]:
    """Per order, the oldest entry not yet delivered to this webhook, where that entry is due now."""
    joined = and_(WebhookDelivery.outbox_id == Outbox.id, WebhookDelivery.webhook_id == webhook_id)
    heads = (
        select(func.min(Outbox.id).label("id"))
        .outerjoin(WebhookDelivery, joined)
        .where(WebhookDelivery.delivered_at.is_(None))
        .group_by(Outbox.order_id)
        .subquery()
    )
    due = (
        select(heads.c.id)
        .outerjoin(
            WebhookDelivery, and_(WebhookDelivery.outbox_id == heads.c.id, WebhookDelivery.webhook_id == webhook_id)
        )
        .where((WebhookDelivery.next_attempt_at.is_(None)) | (WebhookDelivery.next_attempt_at <= now))
        .order_by(heads.c.id)
        .limit(MAX_PER_PASS)
    )
    with Session(db.reader(engine)) as s:
        return list(s.scalars(due))


def _next_of_order(engine: Engine, webhook_id: int, entry: Outbox) -> Outbox | None:
    """The order's next entry after `entry`, unless it was already delivered to this webhook."""
    with Session(db.reader(engine), expire_on_commit=False) as s:
        joined = and_(WebhookDelivery.outbox_id == Outbox.id, WebhookDelivery.webhook_id == webhook_id)
        query = (
            select(Outbox)
            .outerjoin(WebhookDelivery, joined)
            .where(Outbox.order_id == entry.order_id, Outbox.id > entry.id, WebhookDelivery.delivered_at.is_(None))
            .order_by(Outbox.id)
            .limit(1)
        )
        return s.scalar(query)


def _claim(engine: Engine, webhook_id: int, outbox_id: int, now: datetime) -> Outbox | None:
    """Take one attempt at an entry (attempts + 1, leased); None when it is not due or another worker has it."""
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
                        (WebhookDelivery.next_attempt_at.is_(None)) | (WebhookDelivery.next_attempt_at <= now),
                    )
                    .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + LEASE)
                )
                if claimed.rowcount == 0:  # type: ignore[attr-defined]
                    if s.get(WebhookDelivery, (webhook_id, outbox_id)) is not None:
                        return None  # delivered, leased by another worker, or not due yet
                    s.add(
                        WebhookDelivery(
                            webhook_id=webhook_id, outbox_id=outbox_id, attempts=1, next_attempt_at=now + LEASE
                        )
                    )
        except IntegrityError:  # another worker created the row first: it has this attempt
            return None
        return entry


def _record(engine: Engine, webhook_id: int, outbox_id: int, now: datetime, error: str | None) -> None:
    with Session(engine) as s, s.begin():
        row = s.get(WebhookDelivery, (webhook_id, outbox_id))
        if row is None:
            return
        if error is None:
            row.delivered_at, row.next_attempt_at, row.last_error = now, None, None
        else:
            row.next_attempt_at, row.last_error = now + backoff(row.attempts), error[:1000]


def _send(client: httpx.Client, url: str, entry: Outbox) -> str | None:
    """POST one entry; None when the receiver answered 2xx, else what went wrong."""
    headers = {"X-Retail-Event": entry.kind, "X-Retail-Delivery": str(entry.id)}
    try:
        response = client.post(url, json=_body(entry), headers=headers, timeout=TIMEOUT_S)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.is_success:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"


def deliver_due(engine: Engine, client: httpx.Client, now: datetime | None = None) -> int:
    """One pass over every active webhook: send what is due, in order per order; how many were delivered."""
    now = now or _now()
    with Session(db.reader(engine)) as s:
        hooks = [(h.id, h.url) for h in s.scalars(select(Webhook).where(Webhook.active.is_(True)))]
    delivered = 0
    for webhook_id, url in hooks:
        sent = 0
        for head in _heads(engine, webhook_id, now):
            if sent >= MAX_PER_PASS:
                break
            entry = _claim(engine, webhook_id, head, now)
            while entry is not None and sent < MAX_PER_PASS:
                error = _send(client, url, entry)
                _record(engine, webhook_id, entry.id, now, error)
                sent += 1
                if error is not None:
                    log.warning("webhook %d: outbox %d not delivered: %s", webhook_id, entry.id, error)
                    break
                delivered += 1
                following = _next_of_order(engine, webhook_id, entry)
                entry = None if following is None else _claim(engine, webhook_id, following.id, now)
    return delivered


def start(engine: Engine, interval_s: float = 1.0, client: httpx.Client | None = None) -> Callable[[], None]:
    """Deliver in a background thread every `interval_s` until the returned `stop()` is called."""
    stopping = threading.Event()
    own_client = client is None
    http = client or httpx.Client(timeout=TIMEOUT_S)

    def loop() -> None:
        while not stopping.is_set():
            try:
                busy = deliver_due(engine, http) > 0
            except Exception:  # a database hiccup must not end deliveries for good
                log.exception("webhook delivery pass failed")
                busy = False
            if not busy:
                stopping.wait(interval_s)

    thread = threading.Thread(target=loop, name="webhooks", daemon=True)
    thread.start()

    def stop() -> None:
        stopping.set()
        thread.join(timeout=TIMEOUT_S + 5)
        if own_client:
            http.close()

    return stop
