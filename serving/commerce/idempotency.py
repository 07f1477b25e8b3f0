"""Idempotency keys for writes a client may retry (placing an order, recording a return).

The same key with the same body answers what the first request did; with another body it is a `Conflict`.
A key is unique per caller, not across callers: its scope is `key:<API key id>`, or `customer:<id>` for a
customer key (every key of one customer shares it), so one client can neither occupy another's key nor learn
from a 409 that another client used it. A key is remembered for `RETAIL_IDEMPOTENCY_HOURS` (default 24):
after that a request with it is a new request, and the old row's key is cleared so the unique index lets the
new one in. Functions called without a caller (the CLI, tests) use the empty scope.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import LoaderOption

from retail.settings import get_settings
from serving.commerce.errors import Conflict
from serving.commerce.tables import Order, Return

log = logging.getLogger(__name__)

Keyed = TypeVar("Keyed", Order, Return)


def scope(key_id: int | None, role: str | None = None, customer_id: str | None = None) -> str:
    """The caller's namespace for keys: `customer:<id>` for customer keys, `key:<id>` for other keys."""
    if role == "customer" and customer_id is not None:
        return f"customer:{customer_id}"
    return "" if key_id is None else f"key:{key_id}"


def retention() -> timedelta:
    """How long a key is remembered (`RETAIL_IDEMPOTENCY_HOURS`, read now so a changed environment applies)."""
    return timedelta(hours=get_settings().idempotency_hours)


def digest(data: dict[str, Any]) -> str:
    """SHA-256 of canonical JSON: what "the same request" means for a key."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def lock(s: Session, what: str, key_scope: str, key: str) -> None:
    """PostgreSQL: queue concurrent requests with one key on an advisory lock (SQLite's write lock already does)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"{what}|{key_scope}|{key}"})


def find(
    s: Session, model: type[Keyed], key_scope: str, key: str, now: datetime, *options: LoaderOption
) -> Keyed | None:
    """The row this caller's key made, if it is younger than the retention; an older one gives its key up."""
    query = select(model).where(model.idempotency_scope == key_scope, model.idempotency_key == key)
    row = s.scalar(query.options(*options))
    if row is not None and row.created_at <= now - retention():
        log.info("idempotency key %r (%s) is past its retention: reused for a new request", key, key_scope or "-")
        row.idempotency_key = None
        s.flush()  # frees the unique (scope, key) for the new row in this transaction
        return None
    return row


def check_same(row: Order | Return, body_digest: str, key: str, what: str) -> None:
    """A retry must send the same body; the conflict names neither the row nor its contents."""
    if row.request_hash != body_digest:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used with a different body; use a new key for a new {what}",
            "Idempotency-Key",
            key,
        )
