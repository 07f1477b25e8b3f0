"""Read-only views for customers and managers: notifications, and the sales report (`serving.commerce.sales_report`)."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from serving.commerce.errors import NotFound
from serving.commerce.payloads import NotificationOut
from serving.commerce.sales_data import SOLD
from serving.commerce.sales_report import By, sales
from serving.commerce.tables import Customer, Outbox

__all__ = ["SOLD", "By", "notifications", "sales"]


def notifications(engine: Engine, customer_id: str, limit: int = 100) -> list[NotificationOut]:
    """A customer's notifications (the outbox rows about their orders), newest first."""
    with Session(db.reader(engine)) as s:
        if s.get(Customer, customer_id) is None:
            raise NotFound(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
        rows = s.scalars(
            select(Outbox).where(Outbox.customer_id == customer_id).order_by(Outbox.id.desc()).limit(limit)
        ).all()
    return [
        NotificationOut(
            id=r.id, order_id=r.order_id, kind=r.kind, payload=json.loads(r.payload), created_at=r.created_at
        )
        for r in rows
    ]
