"""The order API under `/v1`: thin handlers that check the caller, call the domain functions and shape errors.

Who may do what (API keys, see `serving.auth`):

- place an order: admin, ops, sales_rep, store (for its own store), customer (for itself; no guest orders);
- read an order: admin, ops, sales_rep, store (its store's orders), customer (its own orders);
- change status: admin, ops, store (its store's orders); customer (its own) and sales_rep keys may only cancel;
- return: admin, ops, sales_rep, store (returns taken at its own store, of orders from any store), customer
  (its own orders);
- a customer's orders, notifications and loyalty points: admin, ops, sales_rep, customer (its own);
- availability: every role but app; sales report: admin, ops, planner.

`app` keys (recommendations and scores) call no order endpoint. Handlers are plain `def`s: FastAPI runs them in its
thread pool, and each commits its transaction before it answers, so a 201 means the order is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from retail.workspace import Workspace
from serving.auth import AUTH_RESPONSES, Caller, check_customer, check_store, require
from serving.commerce import idempotency, inventory, loyalty, orders, reports, returns, sales_data, shipping
from serving.commerce.deps import features_changed
from serving.commerce.errors import Conflict, Invalid, NotFound, OrderError
from serving.commerce.payloads import (
    ID_PATTERN,
    AvailabilityOut,
    LoyaltyOut,
    NotificationOut,
    OrderIn,
    OrderOut,
    ReturnIn,
    ReturnOut,
    SalesReport,
    StatusIn,
)
from serving.deps import database

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["orders"])

ORDER_ROLES = ("admin", "ops", "sales_rep", "store", "customer")
CUSTOMER_DATA_ROLES = ("admin", "ops", "sales_rep", "customer")
STOCK_ROLES = ("admin", "ops", "marketing", "planner", "sales_rep", "store", "customer")
REPORT_ROLES = ("admin", "ops", "planner")
CANCEL_ONLY = ("customer", "sales_rep")

Db = Annotated[Engine, Depends(database)]
FeaturesChanged = Annotated[Callable[..., None], Depends(features_changed)]
OrderIdPath = Annotated[str, Path(min_length=1, max_length=40, pattern=ID_PATTERN, examples=["O3F2A9C1D7E4B5A60"])]
CustomerIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["C00001"])]
ProductIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["P0001"])]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, newest first.")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=ID_PATTERN,
        description="A new random key per request; a retry sends the same key and body. Keys belong to the caller "
        "and may be reused after RETAIL_IDEMPOTENCY_HOURS (24).",
    ),
]


class Problem(BaseModel):
    """Why a request was refused: a sentence naming the field and value (or, for a malformed request, the
    validation errors, each with its `loc`)."""

    detail: str | list[dict[str, Any]] = Field(examples=["lines[0].product_id: unknown product 'P9999'"])


PROBLEMS = {
    404: "The order, customer or product in the path does not exist.",
    409: "The current state forbids it (stock, loyalty balance, status, returned quantity, reused Idempotency-Key).",
    422: "Malformed or invalid request: the detail names the field and value.",
}


def documented(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for these statuses plus 401/403; `s404="..."` words one status for the endpoint at hand."""
    text = PROBLEMS | {int(k[1:]): v for k, v in descriptions.items()}
    return AUTH_RESPONSES | {c: {"model": Problem, "description": text[c]} for c in codes}


@contextmanager
def domain_errors() -> Iterator[None]:
    """Domain errors become their status code with `{"detail": message}`."""
    try:
        yield
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    except Conflict as exc:
        raise HTTPException(409, exc.message) from None
    except (Invalid, OrderError) as exc:
        raise HTTPException(422, exc.message) from None


def key_scope(caller: Caller) -> str:
    """Whose `Idempotency-Key`s these are: the customer's for customer keys, else the API key's."""
    return idempotency.scope(caller.key_id, caller.role, caller.customer_id)


def _check_order(engine: Engine, caller: Caller, order_id: str) -> None:
    customer_id, store_id = orders.order_owner(engine, order_id)
    check_customer(caller, customer_id)
    check_store(caller, store_id)


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderOut,
    responses=documented(
        409,
        422,
        s409="The current state forbids it: a line above what the store has, more points than the balance, an offer "
        "code this customer cannot use (expired, already used, another customer's or unknown, for a product not in "
        "the order, or a second offer for one product), or the Idempotency-Key reused with another body: the "
        "detail names the field (an offer by `offer_codes[i]` and its code).",
        s422="Malformed (more than the allowed offer codes), or well-formed but naming a customer, store or product "
        "that does not exist, a guest order redeeming points or offers, one offer code given twice, or a total above "
        "the limit: the detail names the field and value.",
    ),
)
def place_order(
    body: OrderIn,
    response: Response,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*ORDER_ROLES))],
    idempotency_key: IdempotencyKey,
) -> OrderOut:
    """Place an order: reserves the stock at `store_id` and answers the order with its unit prices and total.

    The same `Idempotency-Key` with the same body answers the same order again (header `Idempotent-Replayed:
    true`); with another body it is a 409. Keys belong to the caller (its API key, or its customer for customer
    keys) and are remembered for `RETAIL_IDEMPOTENCY_HOURS` (24). A line above what the store has available is a
    409 naming the product and the quantity available, and nothing is reserved. `redeem_points` become a
    discount (`total` is the lines less `discount`; only the points needed are taken); more than the balance is
    a 409 (naming the balance to callers that may read the customer's loyalty), and nothing is written; a guest
    order cannot redeem (422).

    `offer_codes` (at most 2, one per product) redeem the customer's personal offers: each takes its percentage
    of its product's line total, rounded down to the cent and at most its cap (`offer_discount`); points then
    redeem on what remains, so `total` = lines - `offer_discount` - `discount`, never below 0. A code that is
    expired, already used, another customer's or unknown ("cannot be used by this customer", either way), or
    for a product not in the order is a 409 naming it, and nothing is written. A redeemed offer stays redeemed
    when its order is cancelled (points come back, the offer does not).

    Roles: admin, ops, sales_rep, store (its own store), customer (its own customer id; no guest orders).
    """
    check_customer(caller, body.customer_id)
    check_store(caller, body.store_id)
    with domain_errors():
        try:
            order, created = orders.place_order(engine, idempotency_key, body, caller.key_id, key_scope(caller))
        except loyalty.NotEnoughPoints as exc:  # the balance only for those who may read it (not store keys)
            detail = exc.with_balance() if caller.role in CUSTOMER_DATA_ROLES else exc.message
            raise HTTPException(409, detail) from None
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return order


@router.get("/orders/{order_id}", response_model=OrderOut, responses=documented(404, 422))
def get_order(order_id: OrderIdPath, engine: Db, caller: Annotated[Caller, Depends(require(*ORDER_ROLES))]) -> OrderOut:
    """An order with its lines and its `history` of statuses and times. Roles: admin, ops, sales_rep, store
    (its store's orders), customer (its own orders)."""
    with domain_errors():
        order = orders.get_order(engine, order_id)
    check_customer(caller, order.customer_id)
    check_store(caller, order.store_id)
    return order


@router.post(
    "/orders/{order_id}/status",
    response_model=OrderOut,
    responses=documented(
        404,
        409,
        422,
        s409="Not a legal move from the order's status, or `shipped` again with other delivery details than those "
        "recorded: the detail names the field.",
        s422="Malformed; delivery details with a status other than `shipped`; or an `estimated_delivery` before the "
        "day the order was placed: the detail names the field and value.",
    ),
)
def set_status(
    order_id: OrderIdPath,
    body: StatusIn,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*ORDER_ROLES))],
    changed: FeaturesChanged,
) -> OrderOut:
    """Move an order to a new status; only legal moves (409 otherwise):
    placed -> paid -> picking -> shipped -> delivered (fulfilment `ship`), picking -> ready_for_pickup ->
    picked_up (`pickup`, `in_store`), cancelled from placed or paid. The current status again changes nothing.

    Moving to `shipped` may carry the delivery details, `carrier`, `tracking_number` and `estimated_delivery` (a
    date, or a date-time in UTC, not before the day the order was placed): they are stored with the move, shown in
    the order's `delivery` and carried by the `order.status_changed` notification for `shipped` (the customer's
    notifications and webhooks). They are recorded once: `shipped` again with the same details (or none) changes
    nothing; with others it is a 409 naming the field. With any other status they are a 422.

    Roles: admin, ops, store (its store's orders); customer (its own orders) and sales_rep may only cancel.
    """
    if caller.role in CANCEL_ONLY and body.status != "cancelled":
        raise HTTPException(403, f"a {caller.role} key may only cancel an order, not set it to {body.status!r}")
    with domain_errors():
        _check_order(engine, caller, order_id)
        details = shipping.Details(body.carrier, body.tracking_number, body.estimated_delivery)
        order = orders.set_status(engine, order_id, body.status, details)
    if order.status in ("paid", "cancelled"):  # a sale, or its reversal: the customer's features move
        changed(order.customer_id)
    return order


@router.post(
    "/orders/{order_id}/returns",
    status_code=201,
    response_model=ReturnOut,
    responses=documented(
        404,
        409,
        422,
        s422="Malformed, or well-formed but naming a store that does not exist or a product not on the order: the "
        "detail names the field and value.",
    ),
)
def return_lines(
    order_id: OrderIdPath,
    body: ReturnIn,
    response: Response,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*ORDER_ROLES))],
    changed: FeaturesChanged,
    idempotency_key: IdempotencyKey,
) -> ReturnOut:
    """Return lines of a delivered or picked-up order at any store (online too); answers the refund.

    Never more than was bought minus what was already returned (409). The receiving store is restocked.
    The same `Idempotency-Key` with the same order and body answers the same return again (header
    `Idempotent-Replayed: true`) and refunds nothing more; with another body it is a 409 (keys as for orders).
    Roles: admin, ops, sales_rep, store (returns taken at its own store), customer (its own orders).
    """
    check_store(caller, body.store_id)
    with domain_errors():
        customer_id, _ = orders.order_owner(engine, order_id)
        check_customer(caller, customer_id)
        answer, created = returns.record_return(
            engine, order_id, body, idempotency_key, key_scope(caller), caller.key_id
        )
    if created:
        changed(customer_id)
    else:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


@router.get("/customers/{customer_id}/orders", response_model=list[OrderOut], responses=documented(404, 422))
def customer_orders(
    customer_id: CustomerIdPath,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*CUSTOMER_DATA_ROLES))],
    limit: Limit = 100,
) -> list[OrderOut]:
    """A customer's orders, newest first. Roles: admin, ops, sales_rep, customer (its own)."""
    check_customer(caller, customer_id)
    with domain_errors():
        return orders.customer_orders(engine, customer_id, limit)


@router.get(
    "/customers/{customer_id}/notifications", response_model=list[NotificationOut], responses=documented(404, 422)
)
def customer_notifications(
    customer_id: CustomerIdPath,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*CUSTOMER_DATA_ROLES))],
    limit: Limit = 100,
) -> list[NotificationOut]:
    """A customer's notifications (status changes and returns of their orders), newest first.
    Roles: admin, ops, sales_rep, customer (its own)."""
    check_customer(caller, customer_id)
    with domain_errors():
        return reports.notifications(engine, customer_id, limit)


@router.get("/customers/{customer_id}/loyalty", response_model=LoyaltyOut, responses=documented(404, 422))
def customer_loyalty(
    customer_id: CustomerIdPath,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*CUSTOMER_DATA_ROLES))],
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many ledger entries, newest first.")] = 50,
) -> LoyaltyOut:
    """A customer's points: balance (and its value at checkout), tier from the last 12 months' paid spend, the
    spend that reaches the next tier, and the ledger entries. Roles: admin, ops, sales_rep, customer (its own)."""
    check_customer(caller, customer_id)
    with domain_errors():
        return loyalty.summary(engine, customer_id, limit)


@router.get("/products/{product_id}/availability", response_model=AvailabilityOut, responses=documented(404, 422))
def availability(
    product_id: ProductIdPath, engine: Db, _caller: Annotated[Caller, Depends(require(*STOCK_ROLES))]
) -> AvailabilityOut:
    """On hand, reserved and available per store, and the online total. Roles: every role but app."""
    with domain_errors():
        return inventory.availability(engine, product_id)


@router.get(
    "/reports/sales",
    response_model=SalesReport,
    responses=documented(422, s422="Malformed, or `to` before `from`: the detail names the field and value."),
)
def sales_report(
    engine: Db,
    ws: Annotated[Workspace | None, Depends(sales_data.workspace)],
    _caller: Annotated[Caller, Depends(require(*REPORT_ROLES))],
    start: Annotated[date, Query(alias="from", description="First day (UTC), YYYY-MM-DD.")],
    end: Annotated[date, Query(alias="to", description="Last day (UTC), inclusive.")],
    by: Annotated[reports.By, Query(description="Rows by day, week (keyed by its Monday), store or channel.")] = "day",
    store_id: Annotated[str | None, Query(min_length=1, max_length=64, description="Only this store.")] = None,
    channel: Annotated[str | None, Query(min_length=1, max_length=16, description="Only this channel.")] = None,
) -> SalesReport:
    """Revenue, orders, units, average order value, returns and return rate, cancellation rate, fulfilment hours
    and repeat-purchase rate, per row and in total. Roles: admin, ops, planner.

    Both sources count, as on the sales page (`/ui/sales`): the imported history (the workspace's raw
    transactions: an order is the positive lines of one order id, dated by its first line; negative lines are
    returns) and the order API's orders paid or later and not cancelled, dated by payment, at their total (returns
    are not subtracted from revenue; they make `returns` and `return_rate`, on the day they came back). API orders
    exported into the raw transactions count once, from the API. Cancellation rate (cancelled / placed, by day
    placed) and fulfilment hours (placed to shipped or picked up) cover API orders only, since history has no
    statuses: `notes` says so, and a figure no order supports is null with a note, never 0.
    """
    with domain_errors():
        return reports.sales(engine, start, end, by, ws=ws, store_id=store_id, channel=channel)
