"""What every change to an order leaves behind, in the same transaction as the change itself.

- `OrderEvent`: the order's history of statuses.
- `Outbox`: a notification (customers read them; webhooks deliver them), so no change is ever announced
  without having happened, nor happens without being announced.
- `SaleLine`: lines waiting to be appended to the raw transactions (`retail db export-transactions`).

Which event is the sale: an order line counts once, when the order is **paid** (quantity +q at the paid
time). Shipping and pick-up move stock but add no sale line (the sale is already recorded), a cancellation
after payment writes the same line negated (event `cancelled`), and a return writes the returned quantity
negated (event `returned`). The exported transactions therefore sum to what was paid for and kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.orm import Session

from serving.commerce import shipping
from serving.commerce.tables import Order, OrderEvent, Outbox, Product, SaleLine


def now() -> datetime:
    """Timestamps are naive UTC everywhere, as in the raw data contract."""
    return datetime.now(UTC).replace(tzinfo=None)


def notify(s: Session, order: Order, kind: str, at: datetime, **fields: Any) -> None:
    payload = {"order_id": order.order_id, "customer_id": order.customer_id, **fields, "at": at.isoformat()}
    s.add(
        Outbox(
            order_id=order.order_id,
            customer_id=order.customer_id,
            kind=kind,
            payload=json.dumps(payload, sort_keys=True),
            created_at=at,
        )
    )


def status_changed(s: Session, order: Order, status: str, at: datetime) -> None:
    """Set the status and record it: a history entry and an `order.status_changed` notification (for `shipped`,
    with the delivery details: carrier, tracking_number, estimated_delivery; null when not given)."""
    order.status, order.updated_at = status, at
    order.history.append(OrderEvent(status=status, at=at))
    delivery = shipping.notice(order) if status == "shipped" else {}
    notify(s, order, "order.status_changed", at, status=status, **delivery)


def sale_lines(
    s: Session,
    order: Order,
    lines: Iterable[tuple[str, int, int]],
    event: str,
    at: datetime,
    store_id: str | None = None,
) -> None:
    """Queue (product_id, signed quantity, unit price in cents) lines for the raw transactions.

    `store_id` is the store the goods moved at: the order's, or for a return the store that took it back.
    Paid lines add their units to the product's `sold_units` (catalogue popularity) and cancelled paid lines take
    them back, in the same transaction (in product order, so two payments never wait on each other's rows).
    """
    lines = list(lines)
    if event in ("paid", "cancelled"):
        for product_id, quantity, _ in sorted(lines):
            sold = case((Product.sold_units + quantity < 0, 0), else_=Product.sold_units + quantity)
            s.execute(update(Product).where(Product.product_id == product_id).values(sold_units=sold))
    for product_id, quantity, unit_price_cents in lines:
        s.add(
            SaleLine(
                order_id=order.order_id,
                customer_id=order.customer_id,
                product_id=product_id,
                store_id=store_id or order.store_id,
                channel=order.channel,
                event=event,
                ts=at,
                quantity=quantity,
                unit_price_cents=unit_price_cents,
            )
        )
