"""`POST /v1/carts/{cart_id}/checkout`: a cart becomes an order, answered as `POST /v1/orders` answers it.

Roles: admin, ops, sales_rep, store (checking out at its own store only), customer (its own cart only; a guest
cart is no customer's). The domain is `serving.commerce.checkout`; the order itself is made by the same
`orders.create` as `POST /v1/orders`, so reservation, pickup or ship, offers and points behave identically.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from serving.auth import Caller, check_customer, check_store, require
from serving.commerce import carts, checkout, loyalty
from serving.commerce.api import (
    CUSTOMER_DATA_ROLES,
    ORDER_ROLES,
    Db,
    IdempotencyKey,
    documented,
    domain_errors,
    key_scope,
)
from serving.commerce.cart_payloads import IF_MATCH_PATTERN, CartOut
from serving.commerce.payloads import ID_PATTERN, OrderOut

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["carts"])

CartIdPath = Annotated[
    str, Path(min_length=1, max_length=40, pattern=ID_PATTERN, examples=["q3VnX0Jw8Z1c4sQb2Lr7YtEo"])
]
IfMatch = Annotated[  # a plain string with a default rather than `| None`: null is no header value
    str,
    Header(
        alias="If-Match",
        pattern=IF_MATCH_PATTERN,
        description='Optional: the cart version the customer confirmed (`3`, `"3"` or `W/"3"`); another '
        "version is a 409 with the current cart.",
    ),
]


REFUSED = (
    "Refused by the cart's or the shop's state: prices changed since the lines were added (the body lists `changes` "
    "and the repriced `cart`; check out again to accept), `If-Match` names an old version (the body has the current "
    "`cart`), the cart is empty or was merged, a line above what the store has, more points than the balance, an "
    "offer code this customer cannot use (expired, used, another's, unknown, or for a product not in the cart), or "
    "the Idempotency-Key reused with another body: the detail names the field."
)


class CheckoutProblem(BaseModel):
    """Why a checkout was refused; for changed prices also each change and the repriced cart."""

    detail: str | list[dict[str, Any]] = Field(
        examples=["cart: prices changed since the lines were added (P0001 10.00 -> 12.50); ..."]
    )
    changes: list[checkout.PriceChange] = Field(default_factory=list, description="Each changed price (409 only).")
    cart: CartOut | None = Field(default=None, description="The cart as it is now (changed prices, stale If-Match).")


def _version(if_match: str) -> int | None:
    return int(if_match.removeprefix("W/").strip('"')) if if_match else None


def _refusal(engine: Engine, exc: checkout.PriceChanged | checkout.StaleCart) -> JSONResponse:
    content = CheckoutProblem(
        detail=exc.message, changes=getattr(exc, "changes", []), cart=carts.get_cart(engine, exc.cart_id)
    )
    return JSONResponse(content.model_dump(mode="json"), status_code=409)


@router.post(
    "/carts/{cart_id}/checkout",
    status_code=201,
    response_model=OrderOut,
    responses=documented(
        404,
        422,
        s404="The cart does not exist.",
        s422="Malformed (more than the allowed offer codes, a misspelt field), an unknown store, a guest cart "
        "redeeming points or offers, or a cart the order limits do not allow: the detail names the field.",
    )
    | {409: {"model": CheckoutProblem, "description": REFUSED}},
)
def checkout_cart(
    cart_id: CartIdPath,
    body: checkout.CheckoutIn,
    response: Response,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*ORDER_ROLES))],
    idempotency_key: IdempotencyKey,
    if_match: IfMatch = "",
) -> Any:
    """Check a cart out: its lines become an order at `store_id` (reserved there; `ship`, `pickup` or
    `in_store`), with the customer's `offer_codes` and `redeem_points`, answered as `POST /v1/orders` answers.

    One transaction with the cart locked: every line's price is checked again, and a changed one is a 409
    listing each change (`product_id`, `seen`, `now`) while the cart takes the current prices (a new version),
    so the customer sees the change and confirms by checking out again: it is never applied silently. Then the
    order is made by the same code as `POST /v1/orders` (money: lines, less each offer's percentage of its
    product's line up to its cap, less the points on what remains), the cart's lines are removed and its
    version rises; the order's `cart_id` names the cart. The same `Idempotency-Key` and body answer the same
    order again (header `Idempotent-Replayed: true`); with another body it is a 409. Two checkouts of one
    cart with different keys make one order: the second finds the cart empty (409).

    Roles: admin, ops, sales_rep, store (at its own store), customer (its own cart).
    """
    with domain_errors():
        owner = checkout.owner(engine, cart_id)
    check_customer(caller, owner.customer_id)
    check_store(caller, body.store_id)
    with domain_errors():
        try:
            order, created = checkout.checkout(
                engine, cart_id, idempotency_key, body, caller.key_id, key_scope(caller), _version(if_match)
            )
        except (checkout.PriceChanged, checkout.StaleCart) as exc:
            return _refusal(engine, exc)
        except loyalty.NotEnoughPoints as exc:  # the balance only for those who may read it (not store keys)
            detail = exc.with_balance() if caller.role in CUSTOMER_DATA_ROLES else exc.message
            raise HTTPException(409, detail) from None
    response.headers["Location"] = f"/v1/orders/{order.order_id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return order
