"""Read-only views for customers and managers: notifications and the sales report."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from serving.commerce.errors import Invalid, NotFound
from serving.commerce.payloads import NotificationOut, SalesReport, SalesRow, money
from serving.commerce.tables import Customer, Order, OrderEvent, OrderLine, Outbox

SOLD = ("paid", "picking", "shipped", "delivered", "ready_for_pickup", "picked_up")  # paid or later, not cancelled
By = Literal["day", "store", "channel"]


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


def sales(engine: Engine, start: date, end: date, by: By) -> SalesReport:
    """Revenue, orders, units and average order value per day, store or channel, `start` to `end` inclusive.

    What counts: orders that are paid or later (paid, picking, shipped, ready_for_pickup, delivered, picked_up;
    never placed-only or cancelled ones), dated by when they were paid (UTC day), at their full value (gross:
    returns are not subtracted). `units` is the sum of their line quantities, `average_order_value` is revenue
    over orders.
    """
    if end < start:
        raise Invalid(f"to: {end} is before from: {start}", "to", end.isoformat())
    low = datetime.combine(start, time())
    high = datetime.max if end == date.max else datetime.combine(end + timedelta(days=1), time())
    paid = (
        select(OrderEvent.order_id, func.min(OrderEvent.at).label("paid_at"))
        .where(OrderEvent.status == "paid", OrderEvent.at >= low, OrderEvent.at < high)
        .group_by(OrderEvent.order_id)
        .subquery()
    )
    units = (
        select(OrderLine.order_id, func.sum(OrderLine.quantity).label("units")).group_by(OrderLine.order_id).subquery()
    )
    query = (
        select(paid.c.paid_at, Order.store_id, Order.channel, Order.total_cents, units.c.units)
        .join(Order, Order.order_id == paid.c.order_id)
        .join(units, units.c.order_id == paid.c.order_id)
        .where(Order.status.in_(SOLD))
    )
    groups: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # revenue cents, orders, units
    with Session(db.reader(engine)) as s:
        for row in s.execute(query):
            key = row.paid_at.date().isoformat() if by == "day" else row.store_id if by == "store" else row.channel
            figures = groups[key]
            figures[0] += row.total_cents
            figures[1] += 1
            figures[2] += int(row.units)
    rows = [_row(key, *groups[key]) for key in sorted(groups)]
    total = _row("total", *(sum(g[i] for g in groups.values()) for i in range(3)))
    return SalesReport(start=start, end=end, by=by, rows=rows, total=total)


def _row(key: str, cents: int, orders: int, units: int) -> SalesRow:
    return SalesRow(
        key=key,
        revenue=money(cents),
        orders=orders,
        units=units,
        average_order_value=money(round(cents / orders)) if orders else 0.0,
    )
