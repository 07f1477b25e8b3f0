"""The order-entry pages for sales reps and store associates, phone first: find or add the customer, then the
catalogue, the customer's cart and checkout (`order_entry_catalogue`, `order_entry_cart`), and the order.

Step one lives here: the store the pages act for and the customer. Customers are found as the customers page
finds them (`serving.commerce.customers.search`: id, name or email, or their start).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Engine

from serving.auth import Caller, require
from serving.commerce import customer_create, customers
from serving.commerce.api import domain_errors
from serving.commerce.order_list_api import CREATE_CUSTOMER_ROLES
from serving.web import order_entry_cart, order_entry_catalogue, order_entry_checkout
from serving.web.order_entry_base import ROOT, Db, Staff, StoreParam, Where, customer_path, url, where
from serving.web.pages import staff
from serving.web.render import Form_, render

log = logging.getLogger(__name__)
router = APIRouter()
for _part in (order_entry_catalogue, order_entry_cart, order_entry_checkout):
    router.include_router(_part.router)
FOUND_SHOWN = 25  # customers listed for a search (type more to narrow it)
Creators = Annotated[Caller, Depends(require(*staff(*CREATE_CUSTOMER_ROLES)))]


@router.get("/order-entry", response_class=HTMLResponse, response_model=None)
def start(
    request: Request,
    engine: Db,
    caller: Staff,
    store: StoreParam = None,
    q: Annotated[str, Query(max_length=customers.QUERY_MAX)] = "",
) -> Response:
    """Step one: the store (a store key's own) and the customer, found by id, name or email, or added."""
    at = where(engine, caller, store)
    q = q.strip()
    found, more = None, False
    if q:
        exact = customers.exact_id(engine, q)
        if exact is not None:
            return RedirectResponse(url(customer_path(exact), at.store_id), status_code=303)
        with domain_errors():
            found, more = customers.search(engine, q, FOUND_SHOWN)
    return _start_page(request, engine, caller, at, q=q, found=found, more=more)


def _start_page(
    request: Request, engine: Engine, caller: Caller, at: Where, status_code: int = 200, **context: Any
) -> HTMLResponse:
    defaults: dict[str, Any] = {"q": "", "found": None, "more": False, "error": None, "taken": None, "new": {}}
    return render(
        request,
        "order_entry.html",
        status_code=status_code,
        title="Order entry",
        at=at,
        shown=FOUND_SHOWN,
        named=customers.named(engine),
        can_create=caller.role in staff(*CREATE_CUSTOMER_ROLES),
        recent=order_entry_checkout.recent_orders(engine, caller, at, None),
        url=url,
        customer_path=customer_path,
        root=ROOT,
        **(defaults | context),
    )


@router.post("/order-entry/customers", response_model=None)
def create(
    request: Request,
    engine: Db,
    _form: Form_,
    caller: Creators,
    name: Annotated[str, Form(max_length=400)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
    store: Annotated[str | None, Form(max_length=64)] = None,
) -> Response:
    """Add a customer (as `POST /v1/customers`) and serve them; an email a customer has already finds that one."""
    at = where(engine, caller, store or None)
    new = {"name": name, "email": email}
    try:
        body = customer_create.CustomerIn(name=name, email=email)
    except ValidationError as exc:
        problem = exc.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "form"
        error = f"{field}: {problem['msg'].removeprefix('Value error, ')} (got {new.get(field, '')!r})"
        return _start_page(request, engine, caller, at, 422, error=error, new=new)
    try:
        made = customer_create.create_customer(engine, body)
    except customer_create.EmailTaken as exc:
        taken = customers.customer(engine, exc.customer_id)
        return _start_page(request, engine, caller, at, 409, error=exc.message, taken=taken, new=new)
    return RedirectResponse(url(customer_path(made.customer_id), at.store_id, created="1"), status_code=303)
