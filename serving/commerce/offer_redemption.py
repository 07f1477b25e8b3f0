"""Redeeming personal offers on an order, inside the order's own transaction.

The money order (integer cents): the lines at current prices, then each offer takes
`min(floor(discount_pct% of its product's line total), cap_cents)`, then loyalty points redeem on what
remains (never below 0). The percentage is applied exactly (as a decimal, not a binary float) and rounded down,
so an offer never gives a cent more than its percentage.

An order redeems at most `MAX_OFFERS_PER_ORDER` codes, one per product. A code is refused (`Conflict` naming it)
when it is unknown or another customer's (one message for both: "cannot be used by this customer", so a code's
existence is never revealed), expired, already used, or for a product that is not in the order. The offer rows
are locked (`FOR UPDATE` on PostgreSQL; SQLite serialises writers) and marked with the conditional
`redeemed_order_id IS NULL`, so a code is redeemed by at most one order also under concurrent checkouts. A
refusal raises, and the caller's transaction rolls back whole: no order, no reservation, no points, the offer
unused. Cancelling an order does not give its offers back: the code stays redeemed by the cancelled order.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from serving.commerce.errors import Conflict, Invalid
from serving.commerce.payloads import MAX_OFFERS_PER_ORDER
from serving.commerce.tables import PersonalOffer

log = logging.getLogger(__name__)

__all__ = ["MAX_OFFERS_PER_ORDER", "Applied", "apply", "codes_for", "discount_cents", "record"]


@dataclass(frozen=True)
class Applied:
    """One offer checked for an order: its code, product and the discount it gives, in cents."""

    code: str
    product_id: str
    cents: int


def discount_cents(line_total_cents: int, pct: float, cap_cents: int) -> int:
    """`min(floor(pct% of the line), cap)`: the percentage read as the decimal it was written as, rounded down."""
    share = math.floor(Decimal(line_total_cents) * Decimal(str(pct)) / 100)
    return max(0, min(share, cap_cents, line_total_cents))


def apply(
    s: Session, customer_id: str | None, codes: list[str], line_totals: dict[str, int], at: datetime
) -> list[Applied]:
    """Lock and check the order's codes against its lines (`product_id -> line total in cents`); the discounts.

    Nothing is written here: `record` marks the offers once the order exists. Raises `Invalid` for a guest
    order with codes, too many codes or one given twice, and `Conflict` naming the code for an offer this
    order cannot use.
    """
    if not codes:
        return []
    if customer_id is None:
        raise Invalid("offer_codes: a guest order cannot redeem offers", "offer_codes", codes[0])
    if len(codes) > MAX_OFFERS_PER_ORDER:
        raise Invalid(
            f"offer_codes: at most {MAX_OFFERS_PER_ORDER} offers per order, {len(codes)} given", "offer_codes", codes
        )
    for i, code in enumerate(codes):
        if code in codes[:i]:
            raise Invalid(f"offer_codes[{i}]: offer {code} is given twice", f"offer_codes[{i}]", code)
    query = select(PersonalOffer).where(PersonalOffer.code.in_(codes)).order_by(PersonalOffer.code)
    found = {o.code: o for o in s.scalars(query.with_for_update())}  # one order of locks: by code
    applied: list[Applied] = []
    for i, code in enumerate(codes):
        field = f"offer_codes[{i}]"
        offer = found.get(code)
        if offer is None or offer.customer_id != customer_id:
            raise Conflict(f"{field}: offer {code} cannot be used by this customer", field, code)
        if offer.redeemed_order_id is not None:
            raise Conflict(f"{field}: offer {code} was already used", field, code)
        if offer.expires_at <= at:
            raise Conflict(f"{field}: offer {code} expired at {offer.expires_at.isoformat()}Z", field, code)
        if offer.product_id not in line_totals:
            raise Conflict(
                f"{field}: offer {code} is for product {offer.product_id!r}, which is not in the order", field, code
            )
        if other := next((a.code for a in applied if a.product_id == offer.product_id), None):
            raise Conflict(
                f"{field}: offer {code} is for product {offer.product_id!r}, which offer {other} already discounts",
                field,
                code,
            )
        cents = discount_cents(line_totals[offer.product_id], offer.discount_pct, offer.cap_cents)
        applied.append(Applied(code, offer.product_id, cents))
    return applied


def record(s: Session, order_id: str, applied: Iterable[Applied], at: datetime) -> None:
    """Mark the offers redeemed by `order_id`; an offer another transaction redeemed meanwhile is a `Conflict`."""
    for offer in applied:
        done = s.execute(
            update(PersonalOffer)
            .where(PersonalOffer.code == offer.code, PersonalOffer.redeemed_order_id.is_(None))
            .values(redeemed_order_id=order_id, redeemed_at=at, redeemed_cents=offer.cents)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict(f"offer_codes: offer {offer.code} was already used", "offer_codes", offer.code)
        log.info("offer %s redeemed by order %s: %d cents", offer.code, order_id, offer.cents)


def codes_for(s: Session, order_ids: Iterable[str]) -> dict[str, list[str]]:
    """`order_id -> the offer codes it redeemed` (sorted), for answering orders; orders without any are left out."""
    ids = list(order_ids)
    if not ids:
        return {}
    codes: dict[str, list[str]] = {}
    query = select(PersonalOffer.redeemed_order_id, PersonalOffer.code).where(PersonalOffer.redeemed_order_id.in_(ids))
    for order_id, code in s.execute(query.order_by(PersonalOffer.code)).tuples():
        codes.setdefault(str(order_id), []).append(code)
    return codes
