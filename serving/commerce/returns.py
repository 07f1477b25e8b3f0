"""Returns of delivered or picked-up orders, online or in any store: restock, refund, notify, negative sale lines.

A return may carry an idempotency key (the API requires one, see `idempotency`): a retry with the same key and
body answers the return already recorded instead of refunding twice.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from retail import db
from serving.commerce import events, idempotency, inventory, loyalty
from serving.commerce.errors import Conflict, Invalid
from serving.commerce.orders import load_order
from serving.commerce.payloads import ReturnIn, ReturnLineOut, ReturnOut, money
from serving.commerce.tables import Order, Return, ReturnLine, Store

log = logging.getLogger(__name__)

RETURNABLE = ("delivered", "picked_up")


def paid_share(order: Order, value_cents: int) -> int:
    """What was paid for goods worth `value_cents` at unit prices: the discounts (loyalty points and personal
    offers) are spread over the lines in proportion to their value.

    Used cumulatively (the share of everything returned so far, less the share before), so returning the
    whole order refunds exactly its total, never the discount on top.
    """
    discounts = order.discount_cents + (order.offer_discount_cents or 0)
    gross = order.total_cents + discounts
    return value_cents if gross == 0 or discounts == 0 else value_cents * order.total_cents // gross


def return_view(ret: Return) -> ReturnOut:
    return ReturnOut(
        return_id=ret.return_id,
        order_id=ret.order_id,
        store_id=ret.store_id,
        refund=money(ret.refund_cents),
        lines=[
            ReturnLineOut(product_id=r.product_id, quantity=r.quantity, refund=money(r.refund_cents))
            for r in sorted(ret.lines, key=lambda r: r.line_no)
        ],
        created_at=ret.created_at,
    )


def request_hash(order_id: str, body: ReturnIn) -> str:
    """What "the same return" means for a key: the order and the body (the same key on another order conflicts)."""
    return idempotency.digest({"order_id": order_id, **body.model_dump(mode="json")})


def _by_key(s: Session, scope: str, key: str) -> Return | None:
    return idempotency.find(s, Return, scope, key, events.now(), selectinload(Return.lines))


def _replay(ret: Return, digest: str, key: str) -> ReturnOut:
    idempotency.check_same(ret, digest, key, "return")
    return return_view(ret)


def return_lines(engine: Engine, order_id: str, body: ReturnIn) -> ReturnOut:
    """Record a return without an idempotency key (see `record_return`)."""
    return record_return(engine, order_id, body)[0]


def record_return(
    engine: Engine,
    order_id: str,
    body: ReturnIn,
    idempotency_key: str | None = None,
    scope: str = "",
    created_by: int | None = None,
) -> tuple[ReturnOut, bool]:
    """Take goods back at `body.store_id` and answer the refund; `(return, created)`.

    With `idempotency_key`, the same key (in the caller's `scope`) and the same order and body answer the
    return already recorded (`created` False) and change nothing; another body is a `Conflict`. Concurrent
    retries queue as orders do (advisory lock on PostgreSQL, the write lock on SQLite, the unique index last).

    The refund is the units' share of what was paid (`paid_share`: less their part of a loyalty discount), and
    the points the order earned are taken back in the same proportion (`loyalty.returned`).

    A product may be returned up to what was bought minus what was already returned (`Conflict` beyond that);
    a product not on the order is `Invalid`. The order keeps its status; the return is recorded in its own
    rows, restocks the receiving store (its stock row is created if it has none), writes an `order.returned`
    notification and negative sale lines, all in one transaction.
    """
    digest = request_hash(order_id, body)
    try:
        with Session(engine, expire_on_commit=False) as s, s.begin():
            if idempotency_key is not None:
                idempotency.lock(s, "return", scope, idempotency_key)
                existing = _by_key(s, scope, idempotency_key)
                if existing is not None:
                    return _replay(existing, digest, idempotency_key), False
            view = _record(s, order_id, body, (scope, idempotency_key, digest, created_by))
    except IntegrityError:
        if idempotency_key is None:
            raise
        with Session(db.reader(engine)) as s:
            existing = _by_key(s, scope, idempotency_key)
            if existing is None:
                raise
            log.info("idempotency key %r: a concurrent request recorded %s first", idempotency_key, existing.return_id)
            return _replay(existing, digest, idempotency_key), False
    log.info("order %s: return %s at %s, refund %s", order_id, view.return_id, body.store_id, view.refund)
    return view, True


def _record(s: Session, order_id: str, body: ReturnIn, key: tuple[str, str | None, str, int | None]) -> ReturnOut:
    """The return itself, in the caller's transaction; `key` is (scope, idempotency key, body hash, created_by)."""
    order = load_order(s, order_id, lock=True)
    if order.status not in RETURNABLE:
        raise Conflict(
            f"status: order {order_id} is {order.status}; only delivered or picked-up orders can be returned",
            "status",
            order.status,
        )
    if s.get(Store, body.store_id) is None:
        raise Invalid(f"store_id: unknown store {body.store_id!r}", "store_id", body.store_id)
    by_product = {line.product_id: line for line in order.lines}
    wanted: dict[str, tuple[int, int]] = {}
    for i, line in enumerate(body.lines):
        if line.product_id not in by_product:
            raise Invalid(
                f"lines[{i}].product_id: product {line.product_id!r} is not on order {order_id}",
                f"lines[{i}].product_id",
                line.product_id,
            )
        first, quantity = wanted.get(line.product_id, (i, 0))
        wanted[line.product_id] = (first, quantity + line.quantity)
    at = events.now()
    ret = Return(
        return_id=f"R{uuid.uuid4().hex[:16].upper()}",
        order_id=order_id,
        store_id=body.store_id,
        refund_cents=0,
        created_at=at,
        idempotency_scope=key[0],
        idempotency_key=key[1],
        request_hash=key[2],
        created_by=key[3],
    )
    value = sum(line.returned_quantity * line.unit_price_cents for line in order.lines)
    refunded_before = paid_share(order, value)
    for product_id in sorted(wanted):
        i, quantity = wanted[product_id]
        bought = by_product[product_id]
        left = bought.quantity - bought.returned_quantity
        if quantity > left:
            raise Conflict(
                f"lines[{i}].quantity: {quantity} of product {product_id!r} cannot be returned; order "
                f"{order_id} has {left} left to return "
                f"({bought.quantity} bought, {bought.returned_quantity} returned)",
                f"lines[{i}].quantity",
                quantity,
            )
        bought.returned_quantity += quantity
        refund = paid_share(order, value + quantity * bought.unit_price_cents) - paid_share(order, value)
        value += quantity * bought.unit_price_cents
        ret.lines.append(
            ReturnLine(line_no=bought.line_no, product_id=product_id, quantity=quantity, refund_cents=refund)
        )
        ret.refund_cents += refund
        inventory.restock(s, body.store_id, product_id, quantity, at)
    s.add(ret)
    loyalty.returned(s, order, ret.return_id, refunded_before, ret.refund_cents, at)
    events.sale_lines(
        s,
        order,
        [(r.product_id, -r.quantity, by_product[r.product_id].unit_price_cents) for r in ret.lines],
        "returned",
        at,
        store_id=body.store_id,
    )
    events.notify(
        s,
        order,
        "order.returned",
        at,
        return_id=ret.return_id,
        store_id=body.store_id,
        refund=money(ret.refund_cents),
    )
    order.updated_at = at
    return return_view(ret)
