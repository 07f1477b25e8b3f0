"""`retail db check`: the order database's invariants, each violation as one readable line.

- stock: `available = on_hand - reserved >= 0` and `reserved >= 0` on every inventory row;
- reservations: `reserved` equals the units of open orders (placed, paid, picking, ready_for_pickup) for that
  store and product;
- totals: each order's total equals the sum of its lines less its offer and loyalty discounts, and it has a line;
- offers: each order's offer discount equals what the offers it redeemed record (`redeemed_cents`), and every
  redeemed offer names an existing order;
- history: each order's newest history entry is its status;
- loyalty: each customer's balance equals the sum of their ledger legs and is not negative, what they owe
  equals minus their `owed` legs (and while they owe anything their balance is 0), and every movement
  (`entry_group`) sums to zero;
- points: no customer holds more points than their orders that were not reversed earned, plus grants
  (earnings without an order): per order, what it earned less the share its refunds took back, and nothing
  for a cancelled order. A balance above that means reversed points survived somewhere (laundering).

The database's own constraints already refuse the first; checking it anyway costs nothing and catches a
database restored from elsewhere.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from serving.commerce.loyalty import returned_share
from serving.commerce.orders import OPEN
from serving.commerce.tables import (
    Inventory,
    LoyaltyAccount,
    LoyaltyEntry,
    Order,
    OrderEvent,
    OrderLine,
    PersonalOffer,
    Return,
)


def violations(engine: Engine) -> list[str]:
    with Session(db.reader(engine)) as s:
        checks = (_stock, _reservations, _totals, _offers, _history, _balances, _owed, _movements, _points)
        return [line for check in checks for line in check(s)]


def _stock(s: Session) -> list[str]:
    bad = s.execute(
        select(Inventory.store_id, Inventory.product_id, Inventory.on_hand, Inventory.reserved).where(
            (Inventory.reserved < 0) | (Inventory.on_hand < Inventory.reserved)
        )
    )
    return [
        f"stock {r.store_id}/{r.product_id}: on_hand {r.on_hand}, reserved {r.reserved}, "
        f"available {r.on_hand - r.reserved}"
        for r in bad
    ]


def _reservations(s: Session) -> list[str]:
    held = s.execute(
        select(Order.store_id, OrderLine.product_id, func.sum(OrderLine.quantity))
        .join(Order, Order.order_id == OrderLine.order_id)
        .where(Order.status.in_(OPEN))
        .group_by(Order.store_id, OrderLine.product_id)
    )
    expected = {(store, product): int(units) for store, product, units in held}
    rows = s.execute(select(Inventory.store_id, Inventory.product_id, Inventory.reserved))
    recorded = {(store, product): reserved for store, product, reserved in rows}
    out = []
    for key in sorted(set(expected) | {k for k, v in recorded.items() if v}):
        if key not in recorded:
            out.append(f"reservations {key[0]}/{key[1]}: open orders hold {expected[key]} units, no stock row")
        elif recorded[key] != expected.get(key, 0):
            out.append(
                f"reservations {key[0]}/{key[1]}: reserved {recorded[key]}, open orders hold {expected.get(key, 0)}"
            )
    return out


def _totals(s: Session) -> list[str]:
    sums = (
        select(OrderLine.order_id, func.sum(OrderLine.quantity * OrderLine.unit_price_cents).label("cents"))
        .group_by(OrderLine.order_id)
        .subquery()
    )
    bad = s.execute(
        select(Order.order_id, Order.total_cents, Order.discount_cents, Order.offer_discount_cents, sums.c.cents)
        .outerjoin(sums, sums.c.order_id == Order.order_id)
        .where(
            (sums.c.cents.is_(None))
            | (sums.c.cents - Order.offer_discount_cents - Order.discount_cents != Order.total_cents)
        )
        .order_by(Order.order_id)
    )
    return [
        f"order {r.order_id}: total {r.total_cents} cents, "
        + (
            "no lines"
            if r.cents is None
            else f"lines sum to {r.cents} cents, offers {r.offer_discount_cents}, points {r.discount_cents}"
        )
        for r in bad
    ]


def _offers(s: Session) -> list[str]:
    redeemed = (
        select(PersonalOffer.redeemed_order_id, func.sum(PersonalOffer.redeemed_cents).label("cents"))
        .where(PersonalOffer.redeemed_order_id.is_not(None))
        .group_by(PersonalOffer.redeemed_order_id)
        .subquery()
    )
    bad = s.execute(
        select(Order.order_id, Order.offer_discount_cents, redeemed.c.cents)
        .outerjoin(redeemed, redeemed.c.redeemed_order_id == Order.order_id)
        .where(func.coalesce(redeemed.c.cents, 0) != Order.offer_discount_cents)
        .order_by(Order.order_id)
    )
    out = [
        f"order {r.order_id}: offer discount {r.offer_discount_cents} cents, its offers record {r.cents or 0}"
        for r in bad
    ]
    orphans = s.scalars(
        select(PersonalOffer.code)
        .outerjoin(Order, Order.order_id == PersonalOffer.redeemed_order_id)
        .where(PersonalOffer.redeemed_order_id.is_not(None), Order.order_id.is_(None))
        .order_by(PersonalOffer.code)
    )
    return out + [f"offer {code}: redeemed by an order that does not exist" for code in orphans]


def _history(s: Session) -> list[str]:
    newest = select(OrderEvent.order_id, func.max(OrderEvent.id).label("id")).group_by(OrderEvent.order_id).subquery()
    rows = s.execute(
        select(Order.order_id, Order.status, OrderEvent.status.label("last"))
        .outerjoin(newest, newest.c.order_id == Order.order_id)
        .outerjoin(OrderEvent, OrderEvent.id == newest.c.id)
        .where((OrderEvent.status.is_(None)) | (OrderEvent.status != Order.status))
        .order_by(Order.order_id)
    )
    return [f"order {r.order_id}: status {r.status}, newest history entry {r.last or 'none'}" for r in rows]


def _balances(s: Session) -> list[str]:
    sums = s.execute(
        select(LoyaltyEntry.customer_id, func.sum(LoyaltyEntry.points))
        .where(LoyaltyEntry.account == "customer")
        .group_by(LoyaltyEntry.customer_id)
    )
    ledger = {customer_id: int(points or 0) for customer_id, points in sums}
    accounts = {c: b for c, b in s.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance))}
    out = []
    for customer_id in sorted(set(ledger) | set(accounts)):
        legs = ledger.get(customer_id, 0)
        balance = accounts.get(customer_id)
        if balance is None and legs:
            out.append(f"loyalty {customer_id}: no account, ledger sums to {legs}")
        elif balance is not None and balance != legs:
            out.append(f"loyalty {customer_id}: balance {balance}, ledger sums to {legs}")
        if min(legs, balance or 0) < 0:
            out.append(f"loyalty {customer_id}: negative (balance {balance}, ledger {legs})")
    return out


def _movements(s: Session) -> list[str]:
    total = func.sum(LoyaltyEntry.points)
    rows = s.execute(
        select(LoyaltyEntry.entry_group, total.label("points"))
        .group_by(LoyaltyEntry.entry_group)
        .having(total != 0)
        .order_by(LoyaltyEntry.entry_group)
    )
    return [f"loyalty movement {r.entry_group}: legs sum to {r.points}, not 0" for r in rows]


def _owed(s: Session) -> list[str]:
    sums = s.execute(
        select(LoyaltyEntry.customer_id, func.sum(LoyaltyEntry.points))
        .where(LoyaltyEntry.account == "owed")
        .group_by(LoyaltyEntry.customer_id)
    )
    ledger = {customer_id: -int(points or 0) for customer_id, points in sums}
    rows = s.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance, LoyaltyAccount.owed))
    accounts = {r.customer_id: (r.balance, r.owed) for r in rows}
    out = []
    for customer_id in sorted(set(ledger) | {c for c, (_, owed) in accounts.items() if owed}):
        balance, owed = accounts.get(customer_id, (0, 0))
        if owed != ledger.get(customer_id, 0) or owed < 0:
            out.append(f"loyalty {customer_id}: owes {owed} points, owed legs sum to {ledger.get(customer_id, 0)}")
        if owed > 0 and balance > 0:
            out.append(f"loyalty {customer_id}: owes {owed} points but has a balance of {balance}")
    return out


def entitlements(s: Session) -> dict[str, int]:
    """customer -> points their orders that were not reversed earned (less refunded shares), plus grants."""
    refunded = s.execute(select(Return.order_id, func.sum(Return.refund_cents)).group_by(Return.order_id))
    refunds = {order_id: int(cents) for order_id, cents in refunded}
    earned = s.execute(
        select(LoyaltyEntry.customer_id, LoyaltyEntry.order_id, LoyaltyEntry.points, Order.status, Order.total_cents)
        .outerjoin(Order, Order.order_id == LoyaltyEntry.order_id)
        .where(LoyaltyEntry.account == "customer", LoyaltyEntry.kind == "earn")
    )
    out: dict[str, int] = {}
    for r in earned:
        if r.order_id is None:  # a grant
            points = r.points
        elif r.status is None or r.status == "cancelled":
            points = 0
        else:
            points = r.points - returned_share(r.points, r.total_cents, refunds.get(r.order_id, 0))
        out[r.customer_id] = out.get(r.customer_id, 0) + points
    return out


def _points(s: Session) -> list[str]:
    allowed = entitlements(s)
    rows = s.execute(select(LoyaltyAccount.customer_id, LoyaltyAccount.balance).order_by(LoyaltyAccount.customer_id))
    return [
        f"loyalty {r.customer_id}: balance {r.balance} is above the {allowed.get(r.customer_id, 0)} points its "
        "orders that were not reversed earned (plus grants)"
        for r in rows
        if r.balance > allowed.get(r.customer_id, 0)
    ]
