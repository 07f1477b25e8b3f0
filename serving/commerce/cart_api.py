"""The cart API under `/v1`: one cart per customer across channels, guest carts, optimistic versions.

Who may do what (API keys, see `serving.auth`): admin, ops, sales_rep and app keys every cart; customer keys their
own customer's cart, and guest carts (whoever holds a guest cart's unguessable id may use it); store keys every
customer's cart (a customer shops at any store) and guest carts of their own store or none, and a cart they create
or move is at their own store.

Every change sends `If-Match: <version>` (`3`, `"3"` or `W/"3"`) and every answer carries `ETag: "<version>"`. A
missing If-Match is a 428, a malformed one a 422 naming `If-Match`, an old one a 409 whose body has the current
`cart`. A guest cart merged into a customer's cart is read as it is (empty, `merged_into` set); a change to it is a
410 naming the cart it went into.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from serving.auth import Caller, check_customer, check_store, require
from serving.commerce import cart_merge, carts
from serving.commerce.api import Db, documented, domain_errors
from serving.commerce.cart_payloads import IF_MATCH_PATTERN, CartIn, CartLineIn, CartOut, MergedCart, MergeIn, StaleCart
from serving.commerce.payloads import ID_PATTERN, Channel
from serving.commerce.tables import Cart

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["carts"])

CART_ROLES = ("admin", "ops", "sales_rep", "store", "customer", "app")
Callers = Annotated[Caller, Depends(require(*CART_ROLES))]
CartIdPath = Annotated[
    str, Path(min_length=1, max_length=40, pattern=ID_PATTERN, examples=["q3VnX0Jw8Z1c4sQb2Lr7YtEo"])
]
CustomerIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["C00001"])]
ProductIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["P0001"])]
StoreQuery = Annotated[
    str | None,
    Query(min_length=1, max_length=64, pattern=ID_PATTERN, description="Only when the cart is created: its store."),
]
ChannelQuery = Annotated[Channel | None, Query(description="Where the change is made (the cart's `channel`).")]

_VERSION = re.compile(IF_MATCH_PATTERN)
IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": True,
    "description": 'The cart\'s version the change was made from (its ETag): `3`, `"3"` or `W/"3"`. Missing: 428; '
    "another version than the cart's: 409 with the current cart.",
    "schema": {"type": "string", "pattern": IF_MATCH_PATTERN, "examples": ['"1"']},
}
ETAG = {
    "ETag": {"description": 'The cart\'s version, `"<version>"`: send it as If-Match.', "schema": {"type": "string"}}
}
CONFLICT = {
    "model": StaleCart,
    "description": "`If-Match` names an older version (the body's `cart` is the cart now), or the cart already has "
    "100 lines, or a merge the carts' state forbids (a customer's cart, merged into another customer's).",
}
GONE = {"model": MergedCart, "description": "The guest cart was merged into a customer's cart (`merged_into`)."}
S404 = "The cart (or, for DELETE, the product in it) does not exist."
S422 = "Malformed (or `If-Match` malformed), or naming a product, store or customer that does not exist."
S428 = "`If-Match` missing: a change must name the version it was made from."


def _changes() -> dict[int | str, dict[str, Any]]:
    return documented(404, 422, 428, s404=S404, s422=S422, s428=S428) | {
        200: {"description": "The cart after the change.", "headers": ETAG},
        409: CONFLICT,
        410: GONE,
    }


def if_match(request: Request) -> int:
    """The version `If-Match` names; missing is a 428 and malformed a 422 naming the header, both before the cart
    is read (so a missing header answers the same whatever the cart)."""
    raw = request.headers.get("if-match")
    if raw is None:
        raise HTTPException(428, S428)
    if not _VERSION.fullmatch(raw.strip()):
        problem = {
            "type": "string_pattern_mismatch",
            "loc": ("header", "If-Match"),
            "msg": f'If-Match: expected the cart\'s version as 3, "3" or W/"3", got {raw!r}',
            "input": raw,
        }
        raise RequestValidationError([problem])
    return int(raw.strip().removeprefix("W/").strip('"'))


Version = Annotated[int, Depends(if_match)]


def access(caller: Caller) -> carts.Access:
    """The ownership rules above, checked on the cart inside the transaction that uses it."""

    def check(cart: Cart) -> None:
        if cart.customer_id is not None:
            check_customer(caller, cart.customer_id)
        elif caller.role == "store" and cart.store_id not in (None, caller.store_id):
            raise HTTPException(403, "a store key may only use guest carts of its own store")

    return check


def _answer(response: Response, cart: CartOut) -> CartOut:
    response.headers["ETag"] = f'"{cart.version}"'
    return cart


def _run(response: Response, call: Callable[[], CartOut]) -> CartOut | JSONResponse:
    """The domain call, with its refusals as answers: stale (409 + cart), merged (410), no If-Match (428)."""
    with domain_errors():
        try:
            return _answer(response, call())
        except carts.Stale as exc:
            content = StaleCart(detail=exc.message, cart=exc.current).model_dump(mode="json")
            return JSONResponse(content, status_code=409, headers={"ETag": f'"{exc.current.version}"'})
        except carts.Merged as exc:
            content = MergedCart(detail=exc.message, merged_into=exc.merged_into).model_dump(mode="json")
            return JSONResponse(content, status_code=410)
        except carts.VersionRequired as exc:
            return JSONResponse({"detail": exc.message}, status_code=428)


def _own_store(caller: Caller, store_id: str | None) -> str | None:
    """A store key's carts are at its store: None becomes it, another store is a 403."""
    if caller.role != "store":
        return store_id
    if store_id is None:
        return caller.store_id
    check_store(caller, store_id)
    return store_id


@router.get(
    "/customers/{customer_id}/cart",
    response_model=CartOut,
    responses=documented(404, 422, s404="The customer does not exist.", s422="Malformed, or an unknown store.")
    | {200: {"description": "The customer's cart.", "headers": ETAG}},
)
def customer_cart(
    customer_id: CustomerIdPath,
    response: Response,
    engine: Db,
    caller: Callers,
    store_id: StoreQuery = None,
    channel: ChannelQuery = None,
) -> CartOut:
    """The customer's one cart, the same from every channel; created (empty, at `store_id` and `channel`) on the
    first call, and two first calls at once still make one. Roles: admin, ops, sales_rep, app, store (created at
    its store), customer (its own)."""
    check_customer(caller, customer_id)
    store_id = _own_store(caller, store_id)
    with domain_errors():
        cart, created = carts.customer_cart(engine, customer_id, store_id, channel)
    if created:
        log.info("customer %s: cart created", customer_id)
    return _answer(response, cart)


@router.post(
    "/carts",
    status_code=201,
    response_model=CartOut,
    responses=documented(422, s422="Malformed, or an unknown store.")
    | {201: {"description": "The new guest cart.", "headers": ETAG}},
)
def create_guest_cart(response: Response, engine: Db, caller: Callers, body: CartIn | None = None) -> CartOut:
    """A guest cart (no customer), found later only by its unguessable `cart_id`; merge it into the customer's
    cart when they sign in (`POST /v1/carts/{cart_id}/merge`). Roles: admin, ops, sales_rep, app, customer, store
    (at its own store)."""
    body = body or CartIn.model_validate({})
    body = body.model_copy(update={"store_id": _own_store(caller, body.store_id)})
    with domain_errors():
        cart = carts.create_guest(engine, body)
    response.headers["Location"] = f"/v1/carts/{cart.cart_id}"
    return _answer(response, cart)


@router.get(
    "/carts/{cart_id}",
    response_model=CartOut,
    responses=documented(404, 422, s404="The cart does not exist.")
    | {200: {"description": "The cart.", "headers": ETAG}},
)
def get_cart(cart_id: CartIdPath, response: Response, engine: Db, caller: Callers) -> CartOut:
    """A cart with each line's price seen and price now, the stock at its store, and `changes` (lines whose price
    moved or that its store cannot fill). A merged guest cart is empty with `merged_into`. Roles as above."""
    with domain_errors():
        return _answer(response, carts.get_cart(engine, cart_id, access(caller)))


@router.put("/carts/{cart_id}", response_model=CartOut, responses=_changes(), openapi_extra={"parameters": [IF_MATCH]})
def set_cart_place(
    cart_id: CartIdPath, body: CartIn, response: Response, engine: Db, caller: Callers, version: Version
) -> Any:
    """Set the cart's store (null: online; stock and availability are shown there) and channel; both are
    replaced. Store keys may only set their own store."""
    if caller.role == "store":
        check_store(caller, body.store_id)  # type: ignore[arg-type]
    return _run(response, lambda: carts.set_place(engine, cart_id, version, body, access(caller)))


@router.post(
    "/carts/{cart_id}/lines", response_model=CartOut, responses=_changes(), openapi_extra={"parameters": [IF_MATCH]}
)
def set_line(
    cart_id: CartIdPath, body: CartLineIn, response: Response, engine: Db, caller: Callers, version: Version
) -> Any:
    """Add a product or set its quantity (1 to 999; remove it with DELETE). A new line keeps the product's price
    now as the price seen; changing its quantity keeps that price (checkout checks it again). At most 100 lines."""
    return _run(response, lambda: carts.set_line(engine, cart_id, version, body, access(caller)))


@router.delete(
    "/carts/{cart_id}/lines/{product_id}",
    response_model=CartOut,
    responses=_changes(),
    openapi_extra={"parameters": [IF_MATCH]},
)
def remove_line(
    cart_id: CartIdPath,
    product_id: ProductIdPath,
    response: Response,
    engine: Db,
    caller: Callers,
    version: Version,
    channel: ChannelQuery = None,
) -> Any:
    """Remove a product's line (404 when it is not in the cart)."""
    return _run(response, lambda: carts.remove_line(engine, cart_id, version, product_id, access(caller), channel))


@router.post(
    "/carts/{cart_id}/merge",
    response_model=CartOut,
    responses=documented(
        404,
        422,
        s404="The guest cart does not exist.",
        s422="Malformed, or the customer does not exist.",
    )
    | {200: {"description": "The customer's cart with the guest's lines.", "headers": ETAG}, 409: CONFLICT},
)
def merge_cart(cart_id: CartIdPath, body: MergeIn, response: Response, engine: Db, caller: Callers) -> Any:
    """When a guest signs in: the guest cart's lines move into the customer's cart (created if need be);
    quantities add up (at most 999), a product already there keeps the customer's price seen, and the guest cart
    is left empty with `merged_into`. Answers the customer's cart. A retry (the guest cart already merged into
    this customer's cart) answers it again; no If-Match is needed, each cart's version rises in the merge.
    Customer keys only into their own cart."""
    check_customer(caller, body.customer_id)
    return _run(response, lambda: cart_merge.merge(engine, cart_id, body.customer_id, access(caller)))
