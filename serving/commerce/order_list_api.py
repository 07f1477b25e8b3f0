"""`GET /v1/orders` (orders for managers, scoped by role) and `POST /v1/customers` (order entry's "create").

Who may call (API keys, see `serving.auth`):

- list orders: admin, ops, sales_rep (every order); store (its own store's orders only: asking for another store
  is a 403); customer (its own orders only: asking for another customer is a 403);
- create a customer: admin, ops, sales_rep, store.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from serving.auth import Caller, check_customer, check_store, require
from serving.commerce import customer_create, order_list
from serving.commerce.api import Db, documented, domain_errors
from serving.commerce.customers import CustomerOut
from serving.commerce.order_list import Filters, OrderPage, Sort
from serving.commerce.payloads import Channel, DateTimeIn, Id

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1")

LIST_ROLES = ("admin", "ops", "sales_rep", "store", "customer")
CREATE_CUSTOMER_ROLES = ("admin", "ops", "sales_rep", "store")

_ONE = "|".join(order_list.STATUSES)
# known statuses only, comma separated: the schema says what is accepted
StatusParam = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=rf"^(?:{_ONE})(?:,(?:{_ONE}))*$")]


class OrderQuery(BaseModel):
    """The query of `GET /v1/orders`; an unknown parameter is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    status: list[StatusParam] | None = Field(
        None,
        max_length=8,
        description="Only these statuses: repeat the parameter or separate them with commas (`paid,picking`).",
    )
    channel: Channel | None = Field(None, description="Only this channel.")
    store_id: Id | None = Field(None, description="Only this store's orders (a store key: its own store only).")
    customer_id: Id | None = Field(None, description="Only this customer's orders (a customer key: itself only).")
    placed_from: DateTimeIn | None = Field(None, description="Placed at or after (UTC; a date is its midnight).")
    placed_to: DateTimeIn | None = Field(None, description="Placed before (UTC; a date is its midnight).")
    paid_from: DateTimeIn | None = Field(None, description="Paid at or after (UTC; a date is its midnight).")
    paid_to: DateTimeIn | None = Field(None, description="Paid before (UTC; a date is its midnight).")
    sort: Sort = Field("-created_at", description="created_at or total; a leading `-` sorts descending.")
    cursor: str | None = Field(
        None, min_length=1, max_length=order_list.CURSOR_MAX, description="The `next_cursor` of the page before."
    )
    limit: int = Field(order_list.DEFAULT_LIMIT, ge=1, le=order_list.MAX_LIMIT, description="At most this many.")


def scoped(caller: Caller, query: OrderQuery) -> Filters:
    """The filters with the caller's scope forced: a store key its store, a customer key itself (403 otherwise)."""
    store_id, customer_id = query.store_id, query.customer_id
    if caller.role == "store":
        if store_id is not None:
            check_store(caller, store_id)
        store_id = caller.store_id
    if caller.role == "customer":
        if customer_id is not None:
            check_customer(caller, customer_id)
        customer_id = caller.customer_id
    with domain_errors():
        statuses = order_list.statuses(query.status)
    return Filters(
        statuses=statuses,
        channel=query.channel,
        store_id=store_id,
        customer_id=customer_id,
        placed_from=order_list.utc(query.placed_from),
        placed_to=order_list.utc(query.placed_to),
        paid_from=order_list.utc(query.paid_from),
        paid_to=order_list.utc(query.paid_to),
    )


@router.get(
    "/orders",
    tags=["orders"],
    response_model=OrderPage,
    responses=documented(
        422,
        s422="Malformed; an unknown status; a `*_to` before its `*_from`; or a `cursor` this listing did not give "
        "(or gave for another sort): the detail names the field and value.",
    ),
)
def list_orders(
    engine: Db,
    caller: Annotated[Caller, Depends(require(*LIST_ROLES))],
    query: Annotated[OrderQuery, Query()],
) -> OrderPage:
    """Orders filtered by status, channel, store, customer, and placed or paid between two times (`*_from`
    inclusive, `*_to` exclusive), newest first or by `sort`, one page of `limit` at a time: pass `next_cursor` back
    as `cursor` (same filters and sort) for the next page; null on the last. The walk never repeats or skips an
    order. "Paid" is when the order entered `paid` (orders never paid are left out by a paid filter).

    Roles: admin, ops, sales_rep: every order; store: its own store's orders (another `store_id` is a 403);
    customer: its own orders (another `customer_id` is a 403).
    """
    filters = scoped(caller, query)
    with domain_errors():
        return order_list.list_orders(engine, filters, query.sort, query.limit, query.cursor)


class EmailTakenOut(BaseModel):
    """409: a customer already has this email; `customer_id` is theirs."""

    detail: str = Field(examples=["email: customer C00042 already has 'ana@example.com'; use that customer"])
    customer_id: str = Field(examples=["C00042"])


def _created_responses() -> dict[int | str, dict[str, Any]]:
    responses = documented(
        422, s422="Malformed: a missing or empty name, an email that is not name@domain.tld; the detail names it."
    )
    responses[409] = {
        "model": EmailTakenOut,
        "description": "A customer already has this email (also what a retried create gets): `customer_id` is "
        "theirs, to use instead.",
    }
    return responses


@router.post(
    "/customers", tags=["customers"], status_code=201, response_model=CustomerOut, responses=_created_responses()
)
def create_customer(
    body: customer_create.CustomerIn,
    engine: Db,
    _caller: Annotated[Caller, Depends(require(*CREATE_CUSTOMER_ROLES))],
) -> Any:
    """Create a customer at order entry: answers it with its new id (`C` + 12 hex digits) and the email in lower
    case. One customer per email: an email a customer already has is a 409 whose `customer_id` names that customer,
    so order entry finds instead of creating; a retried create gets the same 409 (the email is the idempotency:
    no `Idempotency-Key` is needed). Roles: admin, ops, sales_rep, store."""
    try:
        return customer_create.create_customer(engine, body)
    except customer_create.EmailTaken as exc:
        return JSONResponse({"detail": exc.message, "customer_id": exc.customer_id}, status_code=409)
