"""Checking a cart out: the cart becomes an order through the same `orders.create` as `POST /v1/orders`.

One transaction, with the cart row locked (`FOR UPDATE` on PostgreSQL; SQLite's write lock serialises):

1. a retry (the caller's `Idempotency-Key` already made an order) answers that order; the same key with
   another body is a `Conflict` (as for orders);
2. the cart must exist (`NotFound`), not have been merged away and have lines (`Conflict` naming `cart`), match
   `If-Match` when one is sent (`StaleCart`), and a guest cart cannot redeem points or offers (`Invalid`);
3. every line's price seen is checked against the product's price now: any change is `PriceChanged`, listing
   each (`product_id`, `seen`, `now`), and the cart's lines take the current prices with a new version in a
   committed transaction, so the client shows the change and the customer confirms by checking out again;
   a change is never applied silently;
4. the order is made by `orders.create` (stock reserved at `store_id`, offers, then points; refusals roll the
   whole transaction back), with `cart_id` set; the cart's lines are removed and its version rises.

Two checkouts of one cart with different keys make one order: the second waits on the cart's lock and then
finds it empty (`Conflict` naming `cart`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from retail import db
from serving.commerce import events, idempotency, orders
from serving.commerce.errors import Conflict, Invalid, NotFound
from serving.commerce.payloads import (
    MAX_OFFERS_PER_ORDER,
    MAX_REDEEM_POINTS,
    Body,
    Channel,
    Count,
    Fulfilment,
    Id,
    OfferCode,
    OrderIn,
    OrderOut,
    money,
)
from serving.commerce.tables import Cart, Order, Product

log = logging.getLogger(__name__)

CHANNELS = ("web", "mobile", "store", "sales_rep")


class CheckoutIn(Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"fulfilment": "pickup", "store_id": "S01", "redeem_points": 200, "offer_codes": ["OF7Q2K9X4M1B"]}
            ]
        },
    )

    fulfilment: Fulfilment
    store_id: Id = Field(description="The store whose stock is reserved (the online shop's for shipped orders).")
    redeem_points: Count = Field(
        default=0,
        ge=0,
        le=MAX_REDEEM_POINTS,
        description="Loyalty points to redeem on what the offers leave (a customer's cart only); more than the "
        "balance is a 409.",
    )
    offer_codes: list[OfferCode] = Field(
        default_factory=list,
        max_length=MAX_OFFERS_PER_ORDER,
        description=f"The customer's offer codes to redeem (at most {MAX_OFFERS_PER_ORDER}, one per product).",
    )
    channel: Channel | None = Field(
        default=None, description="Where the order is placed; default the cart's channel, or `web`."
    )


class PriceChange(BaseModel):
    product_id: str
    seen: float = Field(description="The unit price the line was added at.")
    now: float = Field(description="The unit price now: the cart's line has it from now on.")


class PriceChanged(Conflict):
    """Prices moved since the lines were added: the cart was repriced (new `version`); nothing was ordered."""

    def __init__(self, cart_id: str, changes: list[PriceChange], version: int) -> None:
        listed = ", ".join(f"{c.product_id} {c.seen:.2f} -> {c.now:.2f}" for c in changes)
        super().__init__(
            f"cart: prices changed since the lines were added ({listed}); the cart now shows them (version "
            f"{version}): check out again to accept",
            "cart",
            cart_id,
        )
        self.cart_id, self.changes, self.version = cart_id, changes, version


class StaleCart(Conflict):
    """`If-Match` named another version than the cart's."""

    def __init__(self, cart_id: str, version: int, expected: int) -> None:
        super().__init__(
            f"If-Match: cart is at version {version}, not {expected}: reload it and check out again",
            "If-Match",
            expected,
        )
        self.cart_id = cart_id


@dataclass(frozen=True)
class Owner:
    """Who a cart belongs to, for access checks before acting on it (neither changes)."""

    customer_id: str | None
    channel: str | None


def owner(engine: Engine, cart_id: str) -> Owner:
    with Session(db.reader(engine)) as s:
        row = s.execute(select(Cart.customer_id, Cart.channel).where(Cart.cart_id == cart_id)).first()
    if row is None:
        raise NotFound(f"cart_id: unknown cart {cart_id!r}", "cart_id", cart_id)
    return Owner(row.customer_id, row.channel)


def request_hash(cart_id: str, body: CheckoutIn) -> str:
    """What "the same checkout" means for an `Idempotency-Key`: the cart and the body, empty options left out."""
    data = {"checkout": cart_id, **body.model_dump(mode="json", exclude_defaults=True)}
    return idempotency.digest(data)


def checkout(
    engine: Engine,
    cart_id: str,
    key: str,
    body: CheckoutIn,
    created_by: int | None = None,
    scope: str = "",
    if_match: int | None = None,
) -> tuple[OrderOut, bool]:
    """Turn the cart into an order, or answer the order this caller's key already made; `(order, created)`."""
    digest = request_hash(cart_id, body)
    repriced: list[PriceChanged] = []

    def make(s: Session) -> Order | None:
        cart = _locked(s, cart_id)
        _check(cart, body, if_match)
        at = events.now()
        changes = _reprice(s, cart)
        if changes:
            cart.version += 1
            cart.updated_at = at
            repriced.append(PriceChanged(cart_id, changes, cart.version))
            return None  # commit the new prices, order nothing
        order = orders.create(s, key, digest, _order_in(cart, body), created_by, scope, cart_id=cart_id)
        cart.lines.clear()  # delete-orphan: the lines go with the order's transaction
        cart.version += 1
        cart.updated_at = at
        s.flush()
        return order

    placed, created = orders.keyed(engine, key, digest, scope, make)
    if repriced:
        log.info("cart %s: prices changed at checkout, repriced to version %d", cart_id, repriced[0].version)
        raise repriced[0]
    assert placed is not None
    if created:
        log.info("cart %s checked out as order %s", cart_id, placed.order_id)
    return placed, created


def _locked(s: Session, cart_id: str) -> Cart:
    query = select(Cart).where(Cart.cart_id == cart_id).with_for_update()
    cart = s.scalar(query.options(selectinload(Cart.lines)))
    if cart is None:
        raise NotFound(f"cart_id: unknown cart {cart_id!r}", "cart_id", cart_id)
    return cart


def _check(cart: Cart, body: CheckoutIn, if_match: int | None) -> None:
    if cart.merged_into is not None:
        raise Conflict(
            f"cart: cart {cart.cart_id!r} was merged into the customer's cart; check that one out",
            "cart",
            cart.cart_id,
        )
    if if_match is not None and if_match != cart.version:
        raise StaleCart(cart.cart_id, cart.version, if_match)
    if not cart.lines:
        raise Conflict(f"cart: cart {cart.cart_id!r} is empty: nothing to check out", "cart", cart.cart_id)
    if cart.customer_id is None and body.redeem_points:
        raise Invalid("redeem_points: a guest cart cannot redeem points", "redeem_points", body.redeem_points)
    if cart.customer_id is None and body.offer_codes:
        raise Invalid("offer_codes: a guest cart cannot redeem offers", "offer_codes", body.offer_codes[0])


def _reprice(s: Session, cart: Cart) -> list[PriceChange]:
    """Give every line whose product's price moved the price now; the changes, in the cart's line order."""
    ids = [line.product_id for line in cart.lines]
    prices = dict(s.execute(select(Product.product_id, Product.price_cents).where(Product.product_id.in_(ids))).all())
    changes = []
    for line in cart.lines:
        now = int(prices[line.product_id])
        if now != line.unit_price_cents:
            changes.append(PriceChange(product_id=line.product_id, seen=money(line.unit_price_cents), now=money(now)))
            line.unit_price_cents = now
    return changes


def _order_in(cart: Cart, body: CheckoutIn) -> OrderIn:
    """The order the cart asks for, as `POST /v1/orders` would have been sent it."""
    channel = body.channel or (cart.channel if cart.channel in CHANNELS else "web")
    data = {
        "customer_id": cart.customer_id,
        "channel": channel,
        "fulfilment": body.fulfilment,
        "store_id": body.store_id,
        "lines": [{"product_id": line.product_id, "quantity": line.quantity} for line in cart.lines],
        "redeem_points": body.redeem_points,
        "offer_codes": body.offer_codes,
    }
    try:
        return OrderIn.model_validate(data)
    except ValidationError as exc:  # a cart the order limits do not allow (too many lines or units)
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise Invalid(f"cart: {where}: {problem['msg']}", "cart", cart.cart_id) from None
