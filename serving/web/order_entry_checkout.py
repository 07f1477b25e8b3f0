"""Order entry's checkout and the order afterwards.

The checkout form shows the customer's points and personal offers as `GET /v1/customers/{id}/offers` answers them
(`serving.endpoints.profile.offers`: code, discount, expiry; the same role rules), and checks the cart out through
`serving.commerce.checkout.checkout`, the code behind `POST /v1/carts/{id}/checkout` and so `POST /v1/orders`:
offers, then points, then the total, in integer cents. Each rendering of the form carries a new
`Idempotency-Key`, so a double submit makes one order (the second answer is the first's order). A refusal (a
changed price, a stale cart, an offer this customer cannot use, too few points, too little stock) shows the form
again with the domain's message naming what failed.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from serving.auth import Caller, check_store
from serving.commerce import checkout, loyalty, order_list, orders
from serving.commerce.api import CUSTOMER_DATA_ROLES, CustomerIdPath, OrderIdPath, domain_errors, key_scope
from serving.commerce.cart_payloads import CartOut
from serving.commerce.errors import Conflict, Invalid, NotFound
from serving.commerce.payloads import MAX_OFFERS_PER_ORDER, OrderOut
from serving.commerce.tables import Product
from serving.endpoints import churn
from serving.endpoints.profile import OPERATORS, offers, refused
from serving.endpoints.profile_payloads import OffersOut
from serving.web.order_entry_base import (
    Db,
    Staff,
    StoreParam,
    Where,
    all_stores,
    cart_of,
    channel,
    customer,
    customer_path,
    frame,
    url,
    where,
)
from serving.web.render import Form_, render

log = logging.getLogger(__name__)
router = APIRouter()
RECENT = 10  # orders listed under an order
STATUS = {Conflict: 409, NotFound: 404, Invalid: 422}


def product_names(engine: Engine, ids: list[str]) -> dict[str, str]:
    with Session(db.reader(engine)) as s:
        return dict(s.execute(select(Product.product_id, Product.name).where(Product.product_id.in_(ids))).all())


def _whole(text: str) -> int | str:
    """A form's whole number as a number (the API's field takes JSON integers only); anything else as typed."""
    text = text.strip()
    return int(text) if re.fullmatch(r"-?[0-9]{1,12}", text) else (text or 0)


def fulfilments(at: Where) -> list[tuple[str, str]]:
    """What this store can do: ship from anywhere; pickup and take-away only at a shop."""
    ship = ("ship", "Ship to the customer")
    if at.store.kind != "store":
        return [ship]
    return [("pickup", f"Pick up at {at.store.name} later"), ("in_store", "Takes it now, in store"), ship]


def customer_offers(request: Request, engine: Engine, caller: Caller, customer_id: str) -> OffersOut:
    """The customer's offers and points as `GET /v1/customers/{id}/offers` answers this caller."""
    runtime = getattr(request.app.state, "runtime", None)
    with domain_errors():
        return offers(
            engine,
            runtime,
            customer_id,
            refused(caller.role),
            caller.role in OPERATORS,
            caller.role in churn.ROLES,
        )


def checkout_page(
    request: Request,
    engine: Engine,
    caller: Caller,
    at: Where,
    customer_id: str,
    status_code: int = 200,
    cart: CartOut | None = None,
    **context: Any,
) -> HTMLResponse:
    who = customer(engine, customer_id)
    cart = cart or cart_of(engine, caller, customer_id, at)
    found = customer_offers(request, engine, caller, customer_id)
    items = found.offers.items if found.offers is not None else []
    in_cart = {line.product_id for line in cart.lines}
    usable = [o for o in items if o.code and o.product_id in in_cart]
    others = [o for o in items if o.code and o.product_id not in in_cart]
    choices = fulfilments(at)
    defaults: dict[str, Any] = {
        "error": None,
        "changes": [],
        "chosen": {"fulfilment": choices[0][0], "redeem_points": 0, "offer_codes": []},
    }
    return render(
        request,
        "order_entry_checkout.html",
        status_code=status_code,
        title=f"Checkout · {who.name or who.customer_id}",
        **frame(at, who, "checkout", cart),
        points=found.points,
        point_value=loyalty.policy().point_value_cents,
        usable=usable,
        others=others,
        notes=found.notes,
        max_offers=MAX_OFFERS_PER_ORDER,
        fulfilments=choices,
        idempotency_key=secrets.token_urlsafe(18),
        in_cart={line.product_id: line.quantity for line in cart.lines},
        back=url(customer_path(customer_id, "/checkout"), at.store_id),
        **(defaults | context),
    )


@router.get("/order-entry/customers/{customer_id}/checkout", response_class=HTMLResponse)
def checkout_form(
    customer_id: CustomerIdPath, request: Request, engine: Db, caller: Staff, store: StoreParam = None
) -> HTMLResponse:
    """Points, the customer's offers (tick up to two), pickup or ship, and the confirm button."""
    return checkout_page(request, engine, caller, where(engine, caller, store), customer_id)


@router.post("/order-entry/customers/{customer_id}/checkout", response_model=None)
def place(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    _form: Form_,
    caller: Staff,
    version: Annotated[int, Form(ge=0, le=10**9)],
    idempotency_key: Annotated[str, Form(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")],
    fulfilment: Annotated[str, Form(max_length=16)] = "",
    redeem_points: Annotated[str, Form(max_length=12)] = "",
    offer_codes: Annotated[list[str], Form(max_length=20)] = [],  # noqa: B006 - FastAPI copies a default list
    store: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Check the cart out as `POST /v1/carts/{id}/checkout` with the form's Idempotency-Key and cart version."""
    at = where(engine, caller, store)
    cart = cart_of(engine, caller, customer_id, at)
    chosen = {"fulfilment": fulfilment, "redeem_points": redeem_points, "offer_codes": offer_codes}
    try:
        body = checkout.CheckoutIn.model_validate(
            {
                "fulfilment": fulfilment,
                "store_id": at.store_id,
                "redeem_points": _whole(redeem_points),
                "offer_codes": [c.strip() for c in offer_codes if c.strip()],
                "channel": channel(caller),
            }
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "form"
        error = f"{field}: {problem['msg']} (got {problem.get('input')!r})"
        return checkout_page(request, engine, caller, at, customer_id, 422, error=error, chosen=chosen)
    try:
        order, created = checkout.checkout(
            engine, cart.cart_id, idempotency_key, body, caller.key_id, key_scope(caller), version
        )
    except checkout.PriceChanged as exc:
        changes = [
            {
                "name": product_names(engine, [c.product_id]).get(c.product_id, c.product_id),
                "seen": c.seen,
                "now": c.now,
            }
            for c in exc.changes
        ]
        return checkout_page(
            request, engine, caller, at, customer_id, 409, error=exc.message, changes=changes, chosen=chosen
        )
    except loyalty.NotEnoughPoints as exc:
        error = exc.with_balance() if caller.role in CUSTOMER_DATA_ROLES else exc.message
        return checkout_page(request, engine, caller, at, customer_id, 409, error=error, chosen=chosen)
    except (Conflict, NotFound, Invalid) as exc:
        status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
        return checkout_page(request, engine, caller, at, customer_id, status, error=exc.message, chosen=chosen)
    log.info("order entry: cart %s -> order %s (%s)", cart.cart_id, order.order_id, "new" if created else "replayed")
    target = url(f"/orders/{order.order_id}", at.store_id, placed="new" if created else "again")
    return RedirectResponse(target, status_code=303)


def recent_orders(engine: Engine, caller: Caller, at: Where, customer_id: str | None) -> list[OrderOut]:
    """The newest orders of the customer (or, without one, of this store), as `GET /v1/orders` lists them for
    this caller: a store key sees its own store's only."""
    store_id = caller.store_id if caller.role == "store" else (None if customer_id else at.store_id)
    filters = order_list.Filters(customer_id=customer_id, store_id=store_id)
    with domain_errors():
        return order_list.list_orders(engine, filters, "-created_at", RECENT).items


@router.get("/order-entry/orders/{order_id}", response_class=HTMLResponse)
def order_page(
    order_id: OrderIdPath,
    request: Request,
    engine: Db,
    caller: Staff,
    store: StoreParam = None,
) -> HTMLResponse:
    """The order: status and its history, lines, offers, points, total, delivery; the customer's recent orders."""
    at = where(engine, caller, store)
    with domain_errors():
        order = orders.get_order(engine, order_id)
    check_store(caller, order.store_id)
    who = customer(engine, order.customer_id) if order.customer_id else None
    if who is None:
        raise HTTPException(404, f"order {order_id} is a guest order: order entry shows customers' orders")
    cart = cart_of(engine, caller, who.customer_id, at)
    subtotal = round(sum(line.line_total for line in order.lines), 2)
    return render(
        request,
        "order_entry_order.html",
        title=f"Order {order.order_id}",
        **frame(at, who, "order", cart),
        order=order,
        store_name=next((x.name for x in all_stores(engine) if x.store_id == order.store_id), order.store_id),
        names=product_names(engine, [line.product_id for line in order.lines]),
        subtotal=subtotal,
        placed=request.query_params.get("placed"),  # "new" or "again" (a repeated submit found the same order)
        recent=recent_orders(engine, caller, at, who.customer_id),
    )
