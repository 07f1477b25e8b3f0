"""Carts and personal offers planted as rows, for the checkout tests (the cart and offer APIs test themselves)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from shopdata import PRICES
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from serving.commerce import events
from serving.commerce.tables import Cart, CartLine, PersonalOffer


def plant_cart(
    engine: Engine, customer: str | None = "C1", lines: list[tuple[str, int]] | None = None, seen: int = 0
) -> str:
    """The customer's one cart (a new guest cart for None) holding just `lines`, each at the price now plus `seen`
    cents (a price seen before it changed); its id."""
    at = events.now()
    with Session(engine) as s, s.begin():
        cart = s.scalar(select(Cart).where(Cart.customer_id == customer)) if customer else None
        if cart is None:
            cart = Cart(cart_id=uuid.uuid4().hex[:24], customer_id=customer, channel="mobile", version=0, created_at=at)
            s.add(cart)
        cart.version, cart.updated_at = cart.version + 1, at
        cart.lines = [
            CartLine(product_id=p, quantity=q, unit_price_cents=PRICES[p] + seen, added_at=at + timedelta(seconds=i))
            for i, (p, q) in enumerate(lines or [("P1", 2), ("P2", 1)])
        ]
        s.flush()
        return cart.cart_id


def plant_offer(
    engine: Engine, code: str, customer: str = "C1", product: str = "P1", pct: float = 15, cap: int = 250, days: int = 7
) -> None:
    """An offer of `pct`% off `product` up to `cap` cents, expiring in `days` (negative: already expired)."""
    at = events.now()
    with Session(engine) as s, s.begin():
        s.add(
            PersonalOffer(
                code=code,
                customer_id=customer,
                product_id=product,
                kind="cross_sell",
                discount_pct=pct,
                cap_cents=cap,
                reason="test",
                issued_at=at - timedelta(days=14),
                expires_at=at + timedelta(days=days),
            )
        )
