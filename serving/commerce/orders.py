"""Placing orders and moving them through their statuses: typed functions on an Engine, independent of HTTP.

Each function runs one transaction and returns only after it committed, so an answer always describes what is
in the database. Stock is reserved with one conditional UPDATE per product (see `inventory`), so concurrent
orders never oversell, and a refused order leaves nothing reserved: its transaction rolls back whole.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from retail import db
from serving.commerce import events, idempotency, inventory, loyalty, offer_redemption, shipping
from serving.commerce.errors import Conflict, Invalid, NotFound, OutOfStock
from serving.commerce.payloads import Delivery, LineIn, LineOut, OrderIn, OrderOut, StatusEvent, money
from serving.commerce.tables import Customer, Order, OrderLine, Product, Store

log = logging.getLogger(__name__)

MAX_TOTAL_CENTS = 2**31 - 1  # the column is a 32-bit integer on PostgreSQL
OPEN = ("placed", "paid", "picking", "ready_for_pickup")  # statuses whose lines hold reserved stock
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "placed": ("paid", "cancelled"),
    "paid": ("picking", "cancelled"),
    "picking": ("shipped", "ready_for_pickup"),
    "shipped": ("delivered",),
    "ready_for_pickup": ("picked_up",),
}


def request_hash(body: OrderIn) -> str:
    """SHA-256 of the body as canonical JSON: what "the same request" means for an idempotency key."""
    data = body.model_dump(mode="json")
    for optional in ("redeem_points", "offer_codes"):  # bodies without them hash as before the fields existed
        if not data[optional]:
            del data[optional]
    return idempotency.digest(data)


def delivery(order: Order) -> Delivery | None:
    """The carrier, tracking number and estimated delivery, once any is known."""
    if order.carrier is None and order.tracking_number is None and order.estimated_delivery is None:
        return None
    return Delivery(
        carrier=order.carrier, tracking_number=order.tracking_number, estimated_delivery=order.estimated_delivery
    )


def order_view(order: Order, offer_codes: list[str] | None = None) -> OrderOut:
    """The order as the API answers it; `offer_codes`: the codes it redeemed (read by the caller that has them)."""
    offer_codes = offer_codes or []
    return OrderOut(
        order_id=order.order_id,
        customer_id=order.customer_id,
        channel=order.channel,
        fulfilment=order.fulfilment,
        store_id=order.store_id,
        status=order.status,
        total=money(order.total_cents),
        discount=money(order.discount_cents),
        points_redeemed=order.points_redeemed,
        offer_discount=money(order.offer_discount_cents or 0),
        offer_codes=offer_codes,
        cart_id=order.cart_id,
        delivery=delivery(order),
        lines=[
            LineOut(
                line_no=line.line_no,
                product_id=line.product_id,
                quantity=line.quantity,
                unit_price=money(line.unit_price_cents),
                line_total=money(line.quantity * line.unit_price_cents),
                returned_quantity=line.returned_quantity,
            )
            for line in order.lines
        ],
        history=[StatusEvent(status=e.status, at=e.at) for e in order.history],
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def order_answer(s: Session, order: Order) -> OrderOut:
    """`order_view` with the offer codes the order redeemed, read in `s`."""
    return order_view(order, offer_redemption.codes_for(s, [order.order_id]).get(order.order_id))


def _by_key(s: Session, scope: str, key: str, now: datetime) -> Order | None:
    return idempotency.find(s, Order, scope, key, now, selectinload(Order.lines), selectinload(Order.history))


def _replay(s: Session, order: Order, digest: str, key: str) -> OrderOut:
    """The stored order for a retry; a conflict (not naming the order) otherwise."""
    idempotency.check_same(order, digest, key, "order")
    return order_answer(s, order)


def place_order(
    engine: Engine, idempotency_key: str, body: OrderIn, created_by: int | None = None, scope: str = ""
) -> tuple[OrderOut, bool]:
    """Place an order, or return the one this caller's key already placed; `(order, created)`.

    The same key with the same body (canonical JSON hash) answers the first order again; with another body it
    is a `Conflict`. Keys are unique per `scope` (the caller, see `idempotency`) and remembered for the
    retention.
    """
    digest = request_hash(body)
    placed, created = keyed(
        engine, idempotency_key, digest, scope, lambda s: create(s, idempotency_key, digest, body, created_by, scope)
    )
    assert placed is not None  # `create` makes an order or raises
    return placed, created


def keyed(
    engine: Engine, key: str, digest: str, scope: str, make: Callable[[Session], Order | None]
) -> tuple[OrderOut | None, bool]:
    """One keyed order write: the order this caller's key already made (a retry), or `make`'s; `(order, created)`.

    `make` runs in the transaction and returns the new order, or None to commit what it wrote without an order
    (`(None, False)`: a checkout that repriced its cart). Concurrent retries with one key make one order: on
    PostgreSQL they queue on an advisory lock for the key, on SQLite on the write lock, and should both miss,
    the unique index on (scope, key) refuses the second insert and the winner is read back.
    """
    try:
        with Session(engine, expire_on_commit=False) as s, s.begin():
            idempotency.lock(s, "order", scope, key)
            existing = _by_key(s, scope, key, events.now())
            if existing is not None:
                return _replay(s, existing, digest, key), False
            order = make(s)
            if order is None:
                return None, False
            answer = order_answer(s, order)
    except IntegrityError:
        with Session(db.reader(engine)) as s:
            existing = _by_key(s, scope, key, events.now())
            if existing is None:
                raise
            log.info("idempotency key %r: a concurrent request placed %s first", key, existing.order_id)
            return _replay(s, existing, digest, key), False
    log.info("order %s placed: %d lines, total %d cents", answer.order_id, len(answer.lines), order.total_cents)
    return answer, True


def _merged(lines: list[LineIn]) -> dict[str, tuple[int, int]]:
    """product_id -> (index of its first line, total quantity): a product asked for twice is one order line."""
    merged: dict[str, tuple[int, int]] = {}
    for i, line in enumerate(lines):
        first, quantity = merged.get(line.product_id, (i, 0))
        merged[line.product_id] = (first, quantity + line.quantity)
    return merged


def _check_refs(s: Session, body: OrderIn, merged: dict[str, tuple[int, int]]) -> dict[str, Product]:
    if body.customer_id is not None and s.get(Customer, body.customer_id) is None:
        raise Invalid(f"customer_id: unknown customer {body.customer_id!r}", "customer_id", body.customer_id)
    if body.redeem_points and body.customer_id is None:
        raise Invalid("redeem_points: a guest order cannot redeem points", "redeem_points", body.redeem_points)
    if body.offer_codes and body.customer_id is None:
        raise Invalid("offer_codes: a guest order cannot redeem offers", "offer_codes", body.offer_codes[0])
    if s.get(Store, body.store_id) is None:
        raise Invalid(f"store_id: unknown store {body.store_id!r}", "store_id", body.store_id)
    products = {p.product_id: p for p in s.scalars(select(Product).where(Product.product_id.in_(merged)))}
    for product_id, (i, _) in merged.items():
        if product_id not in products:
            raise Invalid(
                f"lines[{i}].product_id: unknown product {product_id!r}", f"lines[{i}].product_id", product_id
            )
    return products


def create(
    s: Session, key: str, digest: str, body: OrderIn, created_by: int | None, scope: str, cart_id: str | None = None
) -> Order:
    """Make the order in the caller's transaction: reserve, redeem offers then points, write it.

    The one code path of `POST /v1/orders` and of a cart's checkout. Money, in integer cents: the lines at
    current prices, less each offer (`offer_redemption`), less the points redeemed on what remains. Any refusal
    raises, and the caller's transaction rolls back whole.
    """
    merged = _merged(body.lines)
    products = _check_refs(s, body, merged)
    line_totals = {p: products[p].price_cents * q for p, (_, q) in merged.items()}
    total = sum(line_totals.values())
    if total > MAX_TOTAL_CENTS:
        raise Invalid(
            f"lines: the order total {money(total)} is above the limit {money(MAX_TOTAL_CENTS)}", "lines", total
        )
    at = events.now()
    for product_id in sorted(merged):  # a fixed order: two orders never wait on each other's rows in a cycle
        i, quantity = merged[product_id]
        if not inventory.try_reserve(s, body.store_id, product_id, quantity, at):
            have = inventory.available(s, body.store_id, product_id)
            raise OutOfStock(f"lines[{i}].quantity", product_id, body.store_id, quantity, have)
    order_id = f"O{uuid.uuid4().hex[:16].upper()}"
    offers = offer_redemption.apply(s, body.customer_id, body.offer_codes, line_totals, at)  # after the stock rows
    offer_cents = sum(o.cents for o in offers)
    points, discount = 0, 0
    if body.redeem_points and body.customer_id is not None:  # after the stock rows: locks in one order everywhere
        points, discount = loyalty.redeem(s, body.customer_id, order_id, body.redeem_points, total - offer_cents, at)
    order = Order(
        order_id=order_id,
        customer_id=body.customer_id,
        channel=body.channel,
        fulfilment=body.fulfilment,
        store_id=body.store_id,
        status="placed",
        total_cents=total - offer_cents - discount,
        discount_cents=discount,
        points_redeemed=points,
        offer_discount_cents=offer_cents,
        cart_id=cart_id,
        idempotency_scope=scope,
        idempotency_key=key,
        request_hash=digest,
        created_by=created_by,
        created_at=at,
        updated_at=at,
    )
    order.lines = [
        OrderLine(line_no=n, product_id=p, quantity=q, unit_price_cents=products[p].price_cents, returned_quantity=0)
        for n, (p, (_, q)) in enumerate(merged.items(), start=1)
    ]
    s.add(order)
    events.status_changed(s, order, "placed", at)
    s.flush()  # the unique index on the key answers here, inside the transaction
    offer_redemption.record(s, order_id, offers, at)
    return order


def load_order(s: Session, order_id: str, lock: bool = False) -> Order:
    query = select(Order).where(Order.order_id == order_id)
    if lock:  # PostgreSQL: one status change at a time per order; SQLite's write lock already serialises
        query = query.with_for_update()
    order = s.scalar(query.options(selectinload(Order.lines), selectinload(Order.history)))
    if order is None:
        raise NotFound(f"order_id: unknown order {order_id!r}", "order_id", order_id)
    return order


def get_order(engine: Engine, order_id: str) -> OrderOut:
    with Session(db.reader(engine)) as s:
        return order_answer(s, load_order(s, order_id))


def next_statuses(order: Order) -> tuple[str, ...]:
    """Legal moves from here: shipping orders go to `shipped`, pick-up and in-store ones to `ready_for_pickup`."""
    wrong_branch = "ready_for_pickup" if order.fulfilment == "ship" else "shipped"
    return tuple(s for s in TRANSITIONS.get(order.status, ()) if s != wrong_branch)


def set_status(engine: Engine, order_id: str, status: str, details: shipping.Details | None = None) -> OrderOut:
    """Move an order to `status` if that is a legal move (`Conflict` otherwise), with its stock and sale effects.

    Cancelling releases the reservations (and, after payment, negates the sale lines) and reverses the order's
    loyalty points; shipping or pick-up consumes them, and shipping stores the delivery `details`; paying records
    the sale and earns points. Asking for the status the order already has changes nothing and answers the order,
    so a retried request is harmless (delivery details other than those recorded are a `Conflict`).
    """
    with Session(engine, expire_on_commit=False) as s, s.begin():
        order = load_order(s, order_id, lock=True)
        if order.status == status:
            shipping.check_repeat(order, details)
            return order_answer(s, order)
        allowed = next_statuses(order)
        if status not in allowed:
            moves = ", ".join(allowed) if allowed else "nothing (it is final)"
            raise Conflict(
                f"status: order {order_id} is {order.status} ({order.fulfilment}); it can move to {moves}, "
                f"not {status!r}",
                "status",
                status,
            )
        at = events.now()
        _apply(s, order, status, at, details)
        events.status_changed(s, order, status, at)
        view = order_answer(s, order)
    log.info("order %s -> %s", order_id, status)
    return view


def _apply(s: Session, order: Order, status: str, at: datetime, details: shipping.Details | None = None) -> None:
    quantities = [(line.product_id, line.quantity) for line in order.lines]
    priced = [(line.product_id, line.quantity, line.unit_price_cents) for line in order.lines]
    if status == "cancelled":
        inventory.release(s, order.store_id, quantities, at)
        if order.status == "paid":
            events.sale_lines(s, order, [(p, -q, c) for p, q, c in priced], "cancelled", at)
        loyalty.cancel(s, order, at)
    elif status in ("shipped", "picked_up"):
        if status == "shipped":
            shipping.record(order, details)  # before anything moves: a refused estimate writes nothing
        inventory.consume(s, order.store_id, quantities, at)
    elif status == "paid":
        events.sale_lines(s, order, priced, "paid", at)
        loyalty.earn(s, order, at)


def order_owner(engine: Engine, order_id: str) -> tuple[str | None, str]:
    """(customer_id, store_id) of an order, for access checks before acting on it; neither ever changes."""
    with Session(db.reader(engine)) as s:
        row = s.execute(select(Order.customer_id, Order.store_id).where(Order.order_id == order_id)).first()
    if row is None:
        raise NotFound(f"order_id: unknown order {order_id!r}", "order_id", order_id)
    return row.customer_id, row.store_id


def customer_orders(engine: Engine, customer_id: str, limit: int = 100) -> list[OrderOut]:
    """A customer's orders, newest first."""
    with Session(db.reader(engine)) as s:
        if s.get(Customer, customer_id) is None:
            raise NotFound(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
        query = (
            select(Order)
            .where(Order.customer_id == customer_id)
            .order_by(Order.created_at.desc(), Order.order_id)
            .limit(limit)
            .options(selectinload(Order.lines), selectinload(Order.history))
        )
        found = list(s.scalars(query))
        codes = offer_redemption.codes_for(s, [o.order_id for o in found])
        return [order_view(o, codes.get(o.order_id)) for o in found]
