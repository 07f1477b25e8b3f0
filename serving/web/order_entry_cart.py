"""Order entry's cart for one customer: their one cart (the same from every channel), its recommendations, and the
forms that change it.

The cart is `GET /v1/customers/{id}/cart`'s (`carts.customer_cart`), changed through `carts.set_line` and
`carts.remove_line` as `POST /v1/carts/{id}/lines` and `DELETE .../lines/{product}` change it. Every form carries
the cart's version as the API's `If-Match`: a page that is out of date (a second tab, the customer's app, a
colleague) gets the 409 the API gives, shown with the cart as it is now and a button that makes the same change
to it, so nothing is lost and nothing is applied to a cart the rep has not seen. The suggestions are
`cart_recs.recommend` (`GET /v1/carts/{id}/recommendations`), in stock at the store the rep serves from.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Engine

from serving.auth import Caller
from serving.commerce import carts
from serving.commerce.api import CustomerIdPath
from serving.commerce.cart_api import access
from serving.commerce.cart_payloads import MAX_QUANTITY, CartIn, CartLineIn, CartOut
from serving.commerce.errors import Conflict, Invalid, NotFound
from serving.commerce.payloads import ID_PATTERN
from serving.endpoints import cart_recs
from serving.web.order_entry_base import (
    Db,
    Staff,
    StoreParam,
    Where,
    back_to,
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
SUGGESTED = 4  # cross-sell and up-sell items each, as the cart's recommendations give them
OPERATORS = ("admin", "ops")
Action = Literal["add", "set", "remove"]
Version = Annotated[int, Form(ge=0, le=10**9)]
ProductField = Annotated[str, Form(min_length=1, max_length=64, pattern=ID_PATTERN)]
StoreField = Annotated[str | None, Form(max_length=64)]
BackField = Annotated[str | None, Form(max_length=2000)]
STATUS = {Conflict: 409, NotFound: 404, Invalid: 422}


def suggestions(request: Request, cart: CartOut, at: Where, caller: Caller) -> cart_recs.CartRecommendations:
    """The cart's recommendations in stock at the store the rep serves from (the cart's store once they change it)."""
    runtime = getattr(request.app.state, "runtime", None)
    here_cart = cart.model_copy(update={"store_id": at.store_id})
    return cart_recs.recommend(runtime, here_cart, SUGGESTED, caller.role in OPERATORS)


def cart_page(
    request: Request,
    engine: Engine,
    caller: Caller,
    at: Where,
    customer_id: str,
    cart: CartOut | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The cart page: `cart` as given (a 409's current cart) or as it is now."""
    who = customer(engine, customer_id)
    cart = cart or cart_of(engine, caller, customer_id, at)
    defaults: dict[str, Any] = {"conflict": None, "error": None, "added": None, "done": None}
    return render(
        request,
        "order_entry_cart.html",
        status_code=status_code,
        title=f"Cart · {who.name or who.customer_id}",
        **frame(at, who, "cart", cart),
        recs=suggestions(request, cart, at, caller),
        in_cart={line.product_id: line.quantity for line in cart.lines},
        back=url(customer_path(customer_id, "/cart"), at.store_id),
        max_quantity=MAX_QUANTITY,
        **(defaults | context),
    )


@router.get("/order-entry/customers/{customer_id}/cart", response_class=HTMLResponse)
def cart_view(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    caller: Staff,
    store: StoreParam = None,
    added: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The customer's cart: lines with quantity and remove forms, price changes, suggestions with one-tap Add."""
    at = where(engine, caller, store)
    cart = cart_of(engine, caller, customer_id, at)
    name = next((line.name for line in cart.lines if line.product_id == added), None) if added else None
    return cart_page(request, engine, caller, at, customer_id, cart, added=name, done=done)


def _placed(engine: Engine, caller: Caller, cart: CartOut, expected: int, at: Where) -> int:
    """Move the cart to the rep's store and channel (one more version) when it is elsewhere; the version to use."""
    if cart.store_id == at.store_id:
        return expected
    moved = carts.set_place(
        engine, cart.cart_id, expected, CartIn(store_id=at.store_id, channel=channel(caller)), access(caller)
    )
    return moved.version


def change(
    request: Request,
    engine: Engine,
    caller: Caller,
    customer_id: str,
    store: str | None,
    action: Action,
    product_id: str,
    version: int,
    quantity: int | None = None,
    back: str | None = None,
) -> Response:
    """One change to the customer's cart made from `version`, then back to the page it came from; a stale version
    is the API's 409 with the cart as it is now and the same change offered again."""
    at = where(engine, caller, store)
    cart = cart_of(engine, caller, customer_id, at)
    asked = {"action": action, "product_id": product_id, "quantity": quantity, "back": back}
    try:
        line = next((x for x in cart.lines if x.product_id == product_id), None)
        if action == "add":
            quantity = min(MAX_QUANTITY, (line.quantity if line else 0) + (quantity or 1))
        if action in ("add", "set"):
            body = CartLineIn(product_id=product_id, quantity=quantity, channel=channel(caller))  # type: ignore[arg-type]
        expected = _placed(engine, caller, cart, version, at)
        if action == "remove":
            carts.remove_line(engine, cart.cart_id, expected, product_id, access(caller), channel(caller))
        else:
            carts.set_line(engine, cart.cart_id, expected, body, access(caller))
    except carts.Stale as exc:
        log.info("order entry: cart %s at version %d, the page had %d", cart.cart_id, exc.current.version, version)
        conflict = {"detail": exc.message, "had": version, "now": exc.current.version, **asked}
        return cart_page(request, engine, caller, at, customer_id, exc.current, 409, conflict=conflict)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = ".".join(str(p) for p in problem["loc"]) or "form"
        error = f"{field}: {problem['msg']} (got {problem.get('input')!r})"
        return cart_page(request, engine, caller, at, customer_id, None, 422, error=error)
    except (Conflict, NotFound, Invalid) as exc:
        status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
        return cart_page(request, engine, caller, at, customer_id, None, status, error=exc.message)
    fallback = url(customer_path(customer_id, "/cart"), at.store_id)
    flash = {"added": product_id} if action == "add" else {"done": action}
    return RedirectResponse(back_to(back if action == "add" else None, fallback, **flash), status_code=303)


@router.post("/order-entry/customers/{customer_id}/cart/add", response_model=None)
def add(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    _form: Form_,
    caller: Staff,
    product_id: ProductField,
    version: Version,
    store: StoreField = None,
    back: BackField = None,
) -> Response:
    """One more of a product (a new line at 1), back to the page the Add was on."""
    return change(request, engine, caller, customer_id, store, "add", product_id, version, None, back)


@router.post("/order-entry/customers/{customer_id}/cart/set", response_model=None)
def set_quantity(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    _form: Form_,
    caller: Staff,
    product_id: ProductField,
    version: Version,
    quantity: Annotated[int, Form(ge=-(10**6), le=10**6)],
    store: StoreField = None,
) -> Response:
    """A line's quantity from now on (1 to 999)."""
    return change(request, engine, caller, customer_id, store, "set", product_id, version, quantity)


@router.post("/order-entry/customers/{customer_id}/cart/remove", response_model=None)
def remove(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    _form: Form_,
    caller: Staff,
    product_id: ProductField,
    version: Version,
    store: StoreField = None,
) -> Response:
    """Remove a line."""
    return change(request, engine, caller, customer_id, store, "remove", product_id, version)
