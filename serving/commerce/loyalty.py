"""Loyalty points: a double-entry ledger that moves in the same transaction as the order change behind it.

Every movement writes legs summing to zero (the customer's account against the programme's `issued`,
`redeemed` or `expired`, and for a reversal the customer's `owed` account) and moves `LoyaltyAccount.balance`
with one conditional UPDATE (`balance + d >= 0`), so the balance is always the sum of the customer's legs and
never negative, also under concurrent redemptions (PostgreSQL re-checks the condition after waiting for a
concurrent writer; SQLite serialises writers). Locks are always taken stock rows first, then the account, so
two transactions never wait in a cycle.

Policy (`LoyaltyPolicy`, from the `loyalty_*` settings, `RETAIL_LOYALTY_*` environment variables): points per
currency unit paid, times the tier's multiplier; tiers by paid spend (less refunds) in the last 365 days; a point is
worth one cent at checkout; earned points lapse after 12 months. Rules where money and points disagree:

- earn: when an order is paid, on what was paid (after the discount), at the tier before this order; guests
  earn nothing; once per order (`earn:<order>` is unique).
- redeem: at checkout, only the points needed to cover the order's value are taken.
- cancel: redeemed points come back as if they had never been spent: the give-back leg has no expiry of its
  own and undoes the spending, so (first in, first out) the points are back in the lots they came from and
  lapse when those do; cancelling never resets an expiry. Earned points are taken back in full.
- return: earned points are taken back in proportion to the refund (what was paid for those units).
- points owed: a reversal takes what the balance has; the rest (points already spent) is booked as owed
  (`LoyaltyAccount.owed`, legs on the customer's `owed` account) and settled first from the next points that
  reach the account, whatever brings them: an earning, a grant, or the give-back of a cancelled redemption.
  So earning on X, spending on Y, then cancelling X and Y leaves nothing: Y's points settle X's debt. While
  anything is owed the balance is 0.
- expire: first in, first out: spending (redemptions, settlements, earlier expiries) uses the oldest lots
  first, so what lapses is what is left of the lots older than their expiry; a second run finds nothing.
"""

from __future__ import annotations

import calendar
import logging
import math
import uuid
from datetime import datetime, timedelta

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import ColumnElement, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from retail import db
from retail.settings import LOYALTY_TIERS, LoyaltyTier, get_settings, ordered_tiers
from serving.commerce import events
from serving.commerce.errors import Conflict, NotFound
from serving.commerce.payloads import LoyaltyEntryOut, LoyaltyOut, money
from serving.commerce.reports import SOLD
from serving.commerce.tables import Customer, LoyaltyAccount, LoyaltyEntry, Order, OrderEvent, Return

log = logging.getLogger(__name__)


Tier = LoyaltyTier


class LoyaltyPolicy(BaseModel):
    """The programme's numbers, from the `loyalty_*` settings (`RETAIL_LOYALTY_TIERS` takes JSON, the others plain
    values)."""

    points_per_unit: float = Field(default=1.0, gt=0, description="Points per currency unit paid (tier 1x).")
    point_value_cents: int = Field(default=1, ge=1, description="What one point is worth at checkout.")
    expiry_months: int = Field(default=12, ge=1)
    tier_window_days: int = Field(default=365, ge=1)
    tiers: tuple[Tier, ...] = LOYALTY_TIERS

    @field_validator("tiers")
    @classmethod
    def _ordered(cls, tiers: tuple[Tier, ...]) -> tuple[Tier, ...]:
        return ordered_tiers(tiers)


def policy() -> LoyaltyPolicy:
    """Read now (never at import time), so a changed environment applies to the next movement."""
    s = get_settings()
    return LoyaltyPolicy(
        points_per_unit=s.loyalty_points_per_unit,
        point_value_cents=s.loyalty_point_value_cents,
        expiry_months=s.loyalty_expiry_months,
        tier_window_days=s.loyalty_tier_window_days,
        tiers=s.loyalty_tiers,
    )


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later (the month's last day where it is shorter)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def tier_for(rules: LoyaltyPolicy, spend_cents: int) -> tuple[Tier, Tier | None]:
    """(the tier this spend reaches, the next one or None at the top)."""
    reached = [t for t in rules.tiers if spend_cents >= t.min_spend_cents]
    current = reached[-1]
    above = rules.tiers[len(reached)] if len(reached) < len(rules.tiers) else None
    return current, above


def spend_cents(s: Session, customer_id: str, at: datetime, window_days: int) -> int:
    """Paid spend less refunds of the customer's orders paid in `(at - window, at]` and not cancelled."""
    paid_in_window = (
        select(OrderEvent.id)
        .where(
            OrderEvent.order_id == Order.order_id,
            OrderEvent.status == "paid",
            OrderEvent.at > at - timedelta(days=window_days),
            OrderEvent.at <= at,
        )
        .exists()
    )
    mine = (Order.customer_id == customer_id, Order.status.in_(SOLD), paid_in_window)
    gross = s.scalar(select(func.coalesce(func.sum(Order.total_cents), 0)).where(*mine))
    refunds = s.scalar(
        select(func.coalesce(func.sum(Return.refund_cents), 0))
        .join(Order, Order.order_id == Return.order_id)
        .where(*mine)
    )
    return int(gross or 0) - int(refunds or 0)


# --- the ledger ----------------------------------------------------------------------------------------------------


class NotEnoughPoints(Conflict):
    """A redemption above the balance. The message leaves the balance out (a store key may not read it);
    `with_balance()` adds it for a caller who may read the customer's loyalty."""

    def __init__(self, customer_id: str, requested: int, needed: int, balance: int) -> None:
        super().__init__(
            f"redeem_points: {requested} points requested ({needed} needed), more than customer {customer_id!r} has",
            "redeem_points",
            requested,
        )
        self.balance = balance

    def with_balance(self) -> str:
        return f"{self.message} (balance {self.balance})"


def _ensure_account(s: Session, customer_id: str, at: datetime) -> None:
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    s.execute(
        insert(LoyaltyAccount)
        .values(customer_id=customer_id, balance=0, owed=0, updated_at=at)
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )


def locked_account(s: Session, customer_id: str) -> tuple[int, int]:
    """`(balance, owed)`, with the account row locked until the transaction ends (PostgreSQL; SQLite is
    serialised); `(0, 0)` without an account."""
    query = select(LoyaltyAccount.balance, LoyaltyAccount.owed).where(LoyaltyAccount.customer_id == customer_id)
    row = s.execute(query.with_for_update()).first()
    return (0, 0) if row is None else (int(row.balance), int(row.owed))


def locked_balance(s: Session, customer_id: str) -> int:
    """The balance, with the account row locked until the transaction ends."""
    return locked_account(s, customer_id)[0]


def _legs(
    s: Session,
    group: str,
    customer_id: str,
    kind: str,
    at: datetime,
    legs: dict[str, tuple[int, datetime | None]],
    order_id: str | None = None,
) -> None:
    """Write one movement: `account -> (points, expires_at)`; legs of 0 points are left out. They sum to 0."""
    assert sum(points for points, _ in legs.values()) == 0, legs
    for account, (points, expires_at) in legs.items():
        if points != 0:
            s.add(
                LoyaltyEntry(
                    entry_group=group,
                    account=account,
                    customer_id=customer_id,
                    order_id=order_id,
                    kind=kind,
                    points=points,
                    created_at=at,
                    expires_at=expires_at,
                )
            )
    s.flush()  # the unique (entry_group, account) answers here, inside the transaction


def post(
    s: Session,
    customer_id: str,
    points: int,
    kind: str,
    contra: str,
    at: datetime,
    group: str | None = None,
    order_id: str | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """One movement: the customer's leg `points` and the `contra` account's `-points`, and the balance moved.

    False, with nothing written, when the balance would go below zero. `group` names the movement; for an
    order's movements it is unique, so writing one twice fails in the database. Points that arrive settle
    what the customer owes first (`settle`), in the same transaction.
    """
    if points > 0:
        _ensure_account(s, customer_id, at)
    moved = s.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id == customer_id, LoyaltyAccount.balance + points >= 0)
        .values(balance=LoyaltyAccount.balance + points, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        return False
    group = group or f"{kind}:{uuid.uuid4().hex[:24]}"
    _legs(s, group, customer_id, kind, at, {"customer": (points, expires_at), contra: (-points, expires_at)}, order_id)
    if points > 0:
        _settle(s, customer_id, points, at, order_id)
    return True


def _settle(s: Session, customer_id: str, arrived: int, at: datetime, order_id: str | None) -> int:
    """Pay what the customer owes from `arrived` points that just reached the account; what was settled."""
    _, owed = locked_account(s, customer_id)
    settled = min(owed, arrived)
    if settled <= 0:
        return 0
    s.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id == customer_id)
        .values(balance=LoyaltyAccount.balance - settled, owed=LoyaltyAccount.owed - settled, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    group = f"settle:{uuid.uuid4().hex[:24]}"
    _legs(s, group, customer_id, "settle", at, {"customer": (-settled, None), "owed": (settled, None)}, order_id)
    log.info("customer %s: %d owed points settled (%d still owed)", customer_id, settled, owed - settled)
    return settled


def _leg(s: Session, group: str) -> LoyaltyEntry | None:
    """The customer's leg of a movement, if it was written."""
    return s.scalar(select(LoyaltyEntry).where(LoyaltyEntry.entry_group == group, LoyaltyEntry.account == "customer"))


def _written(s: Session, group: str) -> bool:
    """Whether any leg of a movement was written (a reversal of spent points has no customer leg)."""
    return s.scalar(select(LoyaltyEntry.id).where(LoyaltyEntry.entry_group == group).limit(1)) is not None


def earn(s: Session, order: Order, at: datetime) -> int:
    """Points for a paid order, at the customer's tier before it; 0 for a guest or when already earned."""
    if order.customer_id is None or _leg(s, f"earn:{order.order_id}") is not None:
        return 0
    rules = policy()
    tier, _ = tier_for(rules, spend_cents(s, order.customer_id, at, rules.tier_window_days))
    points = math.floor(order.total_cents / 100 * rules.points_per_unit * tier.multiplier + 1e-9)
    if points <= 0:
        return 0
    expires = add_months(at, rules.expiry_months)
    post(s, order.customer_id, points, "earn", "issued", at, f"earn:{order.order_id}", order.order_id, expires)
    log.info("order %s: %s earns %d points (%s)", order.order_id, order.customer_id, points, tier.name)
    return points


def redeem(
    s: Session, customer_id: str, order_id: str, requested: int, value_cents: int, at: datetime
) -> tuple[int, int]:
    """Take points for a discount on an order worth `value_cents`: `(points taken, discount in cents)`.

    Only the points needed to cover the order are taken. More than the balance is `NotEnoughPoints` (a
    `Conflict` naming `redeem_points`); the caller's transaction then rolls back whole.
    """
    rules = policy()
    discount = min(requested * rules.point_value_cents, value_cents)
    points = -(-discount // rules.point_value_cents)
    if points == 0:
        return 0, 0
    if not post(s, customer_id, -points, "redeem", "redeemed", at, f"redeem:{order_id}", order_id):
        have = int(s.scalar(select(LoyaltyAccount.balance).where(LoyaltyAccount.customer_id == customer_id)) or 0)
        raise NotEnoughPoints(customer_id, requested, points, have)
    return points, discount


def _take_back(s: Session, order: Order, points: int, group: str, expires_at: datetime | None, at: datetime) -> int:
    """Reverse `points` earned points: what the balance has is taken, the rest is owed; what was taken."""
    assert order.customer_id is not None
    _ensure_account(s, order.customer_id, at)
    balance, _ = locked_account(s, order.customer_id)
    taken = min(points, balance)
    short = points - taken
    s.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.customer_id == order.customer_id)
        .values(balance=LoyaltyAccount.balance - taken, owed=LoyaltyAccount.owed + short, updated_at=at)
        .execution_options(synchronize_session=False)
    )
    legs = {"customer": (-taken, expires_at), "owed": (-short, None), "issued": (points, expires_at)}
    _legs(s, group, order.customer_id, "reverse_earn", at, legs, order.order_id)
    if short:
        log.warning("order %s: %d earned points already spent, now owed", order.order_id, short)
    return taken


def cancel(s: Session, order: Order, at: datetime) -> None:
    """Give back the points the order redeemed (settling any debt first), then take back what it earned."""
    if order.customer_id is None:
        return
    redeemed = _leg(s, f"redeem:{order.order_id}")
    if redeemed is not None and not _written(s, f"cancel_redeem:{order.order_id}"):
        group = f"cancel_redeem:{order.order_id}"
        post(s, order.customer_id, -redeemed.points, "reverse_redeem", "redeemed", at, group, order.order_id)
    earned = _leg(s, f"earn:{order.order_id}")
    if earned is not None and not _written(s, f"cancel_earn:{order.order_id}"):
        _take_back(s, order, earned.points, f"cancel_earn:{order.order_id}", earned.expires_at, at)


def returned(s: Session, order: Order, return_id: str, refunded_before: int, refund: int, at: datetime) -> int:
    """Take back the earned points in proportion to this refund of what was paid; what was reversed.

    Shares are cumulative (`earned * refunded // total`), so returning everything reverses exactly what
    was earned, however many returns it takes; what the balance cannot cover is owed.
    """
    earned = _leg(s, f"earn:{order.order_id}")
    if earned is None or order.total_cents <= 0:
        return 0
    due = returned_share(earned.points, order.total_cents, refunded_before + refund)
    due -= returned_share(earned.points, order.total_cents, refunded_before)
    return _take_back(s, order, due, f"return:{return_id}", earned.expires_at, at) if due > 0 else 0


def returned_share(earned: int, total_cents: int, refunded_cents: int) -> int:
    """The earned points a refund of `refunded_cents` (cumulative) of an order's `total_cents` takes back."""
    return earned * min(refunded_cents, total_cents) // total_cents if total_cents > 0 else 0


def _points(s: Session, *where: ColumnElement[bool]) -> int:
    return int(s.scalar(select(func.coalesce(func.sum(LoyaltyEntry.points), 0)).where(*where)) or 0)


def expire(engine: Engine, as_of: datetime | None = None) -> tuple[int, int]:
    """Expire the points of lots older than their expiry that were not spent: `(customers, points)`.

    First in, first out: spending (redemptions, earlier expiries) uses the oldest lots first, so what lapses
    is `lots expired by then - spent`, at most the balance. Each customer is one transaction with the
    account locked, so a concurrent redemption and a second run both see the result: it is idempotent.
    """
    as_of = as_of or events.now()
    lapsed = (LoyaltyEntry.account == "customer", LoyaltyEntry.expires_at <= as_of)
    with Session(db.reader(engine)) as s:
        candidates = s.scalars(select(LoyaltyEntry.customer_id).where(*lapsed).distinct()).all()
    customers = points = 0
    for customer_id in candidates:
        with Session(engine) as s, s.begin():
            balance = locked_balance(s, customer_id)
            mine = (LoyaltyEntry.customer_id == customer_id, LoyaltyEntry.account == "customer")
            lots = _points(s, *lapsed, *mine)
            spent = -_points(s, LoyaltyEntry.expires_at.is_(None), *mine)  # redemptions and earlier expiries
            due = min(balance, lots - spent)
            if due > 0 and post(s, customer_id, -due, "expire", "expired", events.now()):
                customers, points = customers + 1, points + due
    log.info("expired %d points of %d customers as of %s", points, customers, as_of)
    return customers, points


def summary(engine: Engine, customer_id: str, limit: int = 50) -> LoyaltyOut:
    """Balance, tier, spend in the tier window, progress to the next tier and the newest ledger legs."""
    rules = policy()
    with Session(db.reader(engine)) as s:
        if s.get(Customer, customer_id) is None:
            raise NotFound(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
        account = s.get(LoyaltyAccount, customer_id)
        balance, owed = (account.balance, account.owed) if account is not None else (0, 0)
        spend = spend_cents(s, customer_id, events.now(), rules.tier_window_days)
        legs = s.scalars(
            select(LoyaltyEntry)
            .where(LoyaltyEntry.customer_id == customer_id, LoyaltyEntry.account == "customer")
            .order_by(LoyaltyEntry.id.desc())
            .limit(limit)
        ).all()
    tier, above = tier_for(rules, spend)
    return LoyaltyOut(
        customer_id=customer_id,
        balance=balance,
        balance_value=money(balance * rules.point_value_cents),
        owed=owed,
        tier=tier.name,
        multiplier=tier.multiplier,
        spend_12m=money(spend),
        next_tier=above.name if above else None,
        spend_to_next_tier=money(above.min_spend_cents - spend) if above else None,
        entries=[
            LoyaltyEntryOut(
                id=e.id,
                kind=e.kind,
                points=e.points,
                order_id=e.order_id,
                created_at=e.created_at,
                expires_at=e.expires_at,
            )
            for e in legs
        ],
    )
