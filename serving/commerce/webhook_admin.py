"""Registering webhooks and looking after them: secrets, status, dead letters (`retail webhooks ...`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.orm import Session

from retail import db
from serving.commerce.tables import Outbox, Webhook, WebhookDelivery


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_secret() -> str:
    """A signing secret: `whsec_` and 48 hex digits (192 random bits)."""
    return "whsec_" + secrets.token_hex(24)


def add_webhook(engine: Engine, url: str) -> Webhook:
    """Register an http(s) URL: it is sent the notifications written from now on (its `secret` signs them)."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"url: a webhook needs an http:// or https:// URL with a host, not {url!r}")
    with Session(engine, expire_on_commit=False) as s, s.begin():
        newest = s.scalar(select(func.max(Outbox.id))) or 0
        row = Webhook(url=url, created_at=_now(), active=True, secret=new_secret(), starts_after_id=newest)
        s.add(row)
    return row


def _active(s: Session, webhook_id: int) -> Webhook:
    row = s.get(Webhook, webhook_id)
    if row is None or not row.active:
        raise ValueError(f"webhook_id: no active webhook has id {webhook_id}: see `retail webhooks list`")
    return row


def rotate_secret(engine: Engine, webhook_id: int) -> Webhook:
    """Give a webhook a new secret; deliveries are signed with it from the next send on."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        row = _active(s, webhook_id)
        row.secret = new_secret()
    return row


def remove_webhook(engine: Engine, webhook_id: int) -> Webhook:
    """Deactivate a webhook: nothing more is sent to it; what it received stays on record."""
    with Session(engine, expire_on_commit=False) as s, s.begin():
        row = _active(s, webhook_id)
        row.active = False
    return row


@dataclass(frozen=True)
class WebhookStatus:
    id: int
    url: str
    delivered: int
    pending: int  # owed: neither delivered nor dead-lettered
    failing: int  # pending entries with at least one failed attempt
    dead: int  # dead-lettered (`retail webhooks dead-letters`)
    last_error: str | None


def webhook_status(engine: Engine) -> list[WebhookStatus]:
    """Each active webhook with its delivered, pending, failing and dead counts and its latest error."""
    with Session(db.reader(engine)) as s:
        result = []
        for hook in s.scalars(select(Webhook).where(Webhook.active.is_(True)).order_by(Webhook.id)):
            mine = select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id).subquery()
            delivered = s.scalar(select(func.count()).where(mine.c.delivered_at.is_not(None))) or 0
            dead = s.scalar(select(func.count()).where(mine.c.dead_at.is_not(None))) or 0
            owed = and_(mine.c.outbox_id == Outbox.id)
            pending_query = (
                select(func.count())
                .select_from(Outbox)
                .outerjoin(mine, owed)
                .where(Outbox.id > hook.starts_after_id, mine.c.delivered_at.is_(None), mine.c.dead_at.is_(None))
            )
            pending = s.scalar(pending_query) or 0
            failing = s.scalar(pending_query.where(mine.c.attempts > 0)) or 0
            last_error = s.scalar(
                select(mine.c.last_error)
                .where(mine.c.delivered_at.is_(None), mine.c.last_error.is_not(None))
                .order_by(mine.c.outbox_id.desc())
                .limit(1)
            )
            result.append(WebhookStatus(hook.id, hook.url, delivered, pending, failing, dead, last_error))
        return result


@dataclass(frozen=True)
class DeadLetter:
    webhook_id: int
    url: str
    outbox_id: int  # the delivery id receivers see (X-Retail-Delivery)
    order_id: str
    kind: str
    attempts: int
    dead_at: datetime
    last_error: str | None


def dead_letters(engine: Engine, webhook_id: int | None = None) -> list[DeadLetter]:
    """Deliveries given up after the allowed tries, oldest first (of one webhook, or of all)."""
    query = (
        select(WebhookDelivery, Webhook.url, Outbox.order_id, Outbox.kind)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .join(Outbox, Outbox.id == WebhookDelivery.outbox_id)
        .where(WebhookDelivery.dead_at.is_not(None))
        .order_by(WebhookDelivery.outbox_id, WebhookDelivery.webhook_id)
    )
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    with Session(db.reader(engine)) as s:
        return [
            DeadLetter(d.webhook_id, url, d.outbox_id, order_id, kind, d.attempts, d.dead_at, d.last_error)  # type: ignore[arg-type]
            for d, url, order_id, kind in s.execute(query).tuples()
        ]


def retry(engine: Engine, outbox_id: int | None = None, webhook_id: int | None = None) -> int:
    """Requeue dead letters (one delivery id, one webhook's, or both filters) with a fresh count of tries.

    A requeued entry is its order's oldest owed entry again, so that order's later entries wait for it.
    """
    if outbox_id is None and webhook_id is None:
        raise ValueError("say which dead letters to retry: a delivery id, --webhook ID, or both")
    query = update(WebhookDelivery).where(WebhookDelivery.dead_at.is_not(None))
    if outbox_id is not None:
        query = query.where(WebhookDelivery.outbox_id == outbox_id)
    if webhook_id is not None:
        query = query.where(WebhookDelivery.webhook_id == webhook_id)
    with Session(engine) as s, s.begin():
        count = s.execute(
            query.values(dead_at=None, attempts=0, next_attempt_at=None, last_error=None).execution_options(
                synchronize_session=False
            )
        ).rowcount  # type: ignore[attr-defined]
    if count == 0:
        which = f"id {outbox_id}" if outbox_id is not None else f"webhook {webhook_id}"
        raise ValueError(f"no dead letter for {which}: see `retail webhooks dead-letters`")
    return int(count)
