"""Personal offers: a discount on one product, priced by the campaign's policy, under a single-use code.

`price_offers` turns the products recommended to a customer into priced offers in one transaction: the
customer's live offers (unexpired, unused) are reused as they are, so repeated requests never mint new codes;
a product without one gets the policy's discount (`discounts.decide`, the rule `retail campaign build` uses) and,
when that is above 0, a new code. Concurrent requests for one customer queue on a lock of the customer's row
(`SELECT ... FOR NO KEY UPDATE` on PostgreSQL, which orders placed for the customer do not wait for; SQLite's
write lock, taken by every writing transaction), and the live offers are read again under it, so one
(customer, product) never has two live offers. A request that issues nothing reads without the write lock.

An offer's code lives `RETAIL_OFFER_DAYS` (default 14) from its issue. Its cap is the discount on one unit at the
price of the day it was issued (`floor(pct% of the price)`); a checkout takes `min(floor(pct% of the line), cap)`
(`offer_redemption`). Once used, a product gets no new offer until the used one would have expired: one discount
per product per offer period. Offers whose discount is 0 are not stored: they are answered without a code.
"""

from __future__ import annotations

import base64
import logging
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import get_settings
from serving.commerce.discounts import CampaignPolicy, decide, load_policy
from serving.commerce.payloads import MAX_OFFERS_PER_ORDER
from serving.commerce.tables import Customer, PersonalOffer, Product

log = logging.getLogger(__name__)

__all__ = [
    "MAX_OFFERS_PER_ORDER",
    "Priced",
    "Risk",
    "Wanted",
    "live_offers",
    "new_code",
    "policy",
    "price_offers",
    "unit_discount_cents",
]

NO_RISK = "no discount: no churn score for this customer"
NO_PRICE = "no discount: the product has no price"


@dataclass(frozen=True)
class Risk:
    """What the policy decides on: churn probability and band, and the value at risk (currency units)."""

    probability: float
    band: str
    value_at_risk: float


@dataclass(frozen=True)
class Wanted:
    """A product to offer: what the recommender proposed, with its mode and model version."""

    product_id: str
    kind: str  # cross_sell | up_sell
    model_version: str | None = None


@dataclass(frozen=True)
class Priced:
    """One offer as answered: its code (None: no discount), percentage, cap, today's discount on one unit."""

    product_id: str
    kind: str
    recommended: bool  # False: a live offer the customer holds for a product no longer recommended
    code: str | None
    discount_pct: float
    cap_cents: int
    discount_cents: int
    price_cents: int | None
    reason: str
    issued_at: datetime | None
    expires_at: datetime | None
    name: str | None = None  # the product's, from the products table
    category: str | None = None


def new_code() -> str:
    """80 random bits as 16 base32 characters in groups of four (`K7QX-M2PD-...`): unguessable, easy to type."""
    text = base64.b32encode(secrets.token_bytes(10)).decode()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def unit_discount_cents(price_cents: int, pct: float, cap_cents: int) -> int:
    """What the offer takes off one unit at `price_cents`: `min(floor(pct% of it), cap)`, as checkout counts."""
    share = math.floor(Decimal(price_cents) * Decimal(str(pct)) / 100)
    return max(0, min(share, cap_cents, price_cents))


@lru_cache(maxsize=8)
def _policy_file(path: Path, _mtime_ns: int) -> CampaignPolicy:
    return load_policy(path)


def policy() -> CampaignPolicy:
    """`RETAIL_OFFER_POLICY`'s policy (read again when the file changes), or the defaults; `ValueError` if bad."""
    path = get_settings().offer_policy
    if path is None:
        return CampaignPolicy()
    if not path.is_file():
        raise FileNotFoundError(f"RETAIL_OFFER_POLICY {path}: no such file")
    return _policy_file(path, path.stat().st_mtime_ns)


def live_offers(s: Session, customer_id: str, at: datetime) -> list[PersonalOffer]:
    """The customer's offers that can still be redeemed at `at` (unused, unexpired), oldest first."""
    query = select(PersonalOffer).where(
        PersonalOffer.customer_id == customer_id,
        PersonalOffer.redeemed_order_id.is_(None),
        PersonalOffer.expires_at > at,
    )
    return list(s.scalars(query.order_by(PersonalOffer.issued_at, PersonalOffer.code)))


def _current(s: Session, customer_id: str, at: datetime) -> dict[str, PersonalOffer]:
    """product_id -> the customer's unexpired offer for it, used or not (a used one blocks a new code)."""
    query = select(PersonalOffer).where(PersonalOffer.customer_id == customer_id, PersonalOffer.expires_at > at)
    found: dict[str, PersonalOffer] = {}
    for offer in s.scalars(query.order_by(PersonalOffer.issued_at)):
        if offer.product_id not in found or offer.redeemed_order_id is None:
            found[offer.product_id] = offer  # an unused one wins over a used one
    return found


def _lock_customer(s: Session, customer_id: str) -> None:
    """Queue requests issuing offers to one customer (PostgreSQL; SQLite's writers already queue)."""
    query = select(Customer.customer_id).where(Customer.customer_id == customer_id)
    s.execute(query.with_for_update(key_share=True))


def _held(offer: PersonalOffer, product: Product | None, recommended: bool, kind: str | None = None) -> Priced:
    price = product.price_cents if product is not None else None
    today = unit_discount_cents(price, offer.discount_pct, offer.cap_cents) if price is not None else 0
    return Priced(
        offer.product_id,
        kind or offer.kind,
        recommended,
        offer.code,
        offer.discount_pct,
        offer.cap_cents,
        today,
        price,
        offer.reason,
        offer.issued_at,
        offer.expires_at,
        product.name if product is not None else None,
        product.category if product is not None else None,
    )


def _none(want: Wanted, product: Product | None, reason: str) -> Priced:
    price = product.price_cents if product is not None else None
    name, category = (product.name, product.category) if product is not None else (None, None)
    return Priced(want.product_id, want.kind, True, None, 0.0, 0, 0, price, reason, None, None, name, category)


def _pass(
    s: Session,
    customer_id: str,
    wanted: Sequence[Wanted],
    risk: Risk | None,
    rules: CampaignPolicy,
    at: datetime,
    days: int,
    write: bool,
) -> list[Priced] | None:
    """The answer; issues the new codes when `write`, else None as soon as one is needed."""
    current = _current(s, customer_id, at)
    first: dict[str, Wanted] = {}
    for w in wanted:
        first.setdefault(w.product_id, w)
    ids = list(first) + [p for p in current if p not in first]
    products = {p.product_id: p for p in s.scalars(select(Product).where(Product.product_id.in_(ids)))}
    prices = {p: product.price_cents for p, product in products.items()}
    decided: dict[str, tuple[float, str]] = {}
    priced = [w for p, w in first.items() if p not in current and prices.get(p)]
    if risk is not None and priced:
        n = len(priced)
        frame = decide(
            rules,
            np.full(n, risk.probability),
            np.full(n, risk.band, dtype=object),
            np.full(n, risk.value_at_risk),
            np.array([prices[w.product_id] / 100 for w in priced], dtype=np.float64),
        )
        decided = {
            w.product_id: (float(pct), str(reason))
            for w, pct, reason in zip(priced, frame["discount_pct"], frame["discount_reason"], strict=True)
        }
    out: list[Priced] = []
    for want in first.values():
        product = products.get(want.product_id)
        price = prices.get(want.product_id)
        held = current.get(want.product_id)
        if held is not None:
            if held.redeemed_order_id is None:
                out.append(_held(held, product, True, want.kind))
            else:
                out.append(_none(want, product, f"no discount: offer {held.code} for this product was used"))
            continue
        if not price:
            out.append(_none(want, product, NO_PRICE))
            continue
        if risk is None:
            out.append(_none(want, product, NO_RISK))
            continue
        pct, reason = decided[want.product_id]
        cap = unit_discount_cents(price, pct, price) if pct > 0 else 0
        if cap <= 0:
            out.append(_none(want, product, reason))
            continue
        if not write:
            return None
        offer = PersonalOffer(
            code=new_code(),
            customer_id=customer_id,
            product_id=want.product_id,
            kind=want.kind,
            discount_pct=pct,
            cap_cents=cap,
            reason=reason[:256],
            model_version=want.model_version,
            issued_at=at,
            expires_at=at + timedelta(days=days),
        )
        s.add(offer)
        log.info("offer %s issued to %s: %g%% off %s", offer.code, customer_id, pct, want.product_id)
        out.append(_held(offer, product, True))
    for product_id, held in current.items():  # live offers still held for products no longer recommended
        if product_id not in first and held.redeemed_order_id is None:
            out.append(_held(held, products.get(product_id), False))
    return out


def price_offers(
    engine: Engine,
    customer_id: str,
    wanted: Sequence[Wanted],
    risk: Risk | None,
    at: datetime,
    rules: CampaignPolicy | None = None,
    days: int | None = None,
) -> list[Priced]:
    """The priced offers for `wanted` (in that order, each product once), then the customer's other live offers.

    `risk` None (no churn score): nothing new is issued and those products are answered without a code; live
    offers the customer holds are answered as they are. `rules` and `days` default to the settings'.
    """
    rules = rules if rules is not None else policy()
    days = days if days is not None else get_settings().offer_days
    with Session(db.reader(engine)) as s:
        found = _pass(s, customer_id, wanted, risk, rules, at, days, write=False)
    if found is not None:
        return found
    with Session(engine, expire_on_commit=False) as s, s.begin():
        _lock_customer(s, customer_id)
        issued = _pass(s, customer_id, wanted, risk, rules, at, days, write=True)
    assert issued is not None
    return issued
