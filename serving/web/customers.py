"""The customers pages for service and sales reps: find a customer, and their 360 page.

The 360 page is the profile `GET /v1/customers/{id}/profile` answers (one call of `serving.endpoints.profile.profile`
with the caller's refused sections), plus the order list `GET /v1/customers/{id}/orders` answers, with each
status an order went through. A section the profile leaves empty shows the profile's note instead.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from sqlalchemy import Engine

from serving.auth import Caller, require
from serving.commerce import customers, orders
from serving.commerce.api import domain_errors
from serving.commerce.payloads import OrderOut
from serving.deps import database
from serving.endpoints.profile import OPERATORS, CustomerIdPath, profile, refused
from serving.runtime import Runtime
from serving.web.pages import BY_NAME
from serving.web.render import render
from serving.web.tables import Column, table

log = logging.getLogger(__name__)
router = APIRouter()
PAGE = BY_NAME["customers"]
Staff = Annotated[Caller, Depends(require(*PAGE.roles))]
Db = Annotated[Engine, Depends(database)]
SortParam = Annotated[str | None, Query(max_length=40)]
PageParam = Annotated[int, Query(ge=1, le=10_000)]
ORDERS_SHOWN = 100  # the newest orders listed on the 360 page (as `GET /v1/customers/{id}/orders` by default)

FOUND = (
    Column("customer_id", "Customer"),
    Column("name", "Name"),
    Column("email", "Email"),
    Column("region", "Region"),
    Column("created_at", "Signed up (or first recorded)"),
)
ORDERS = (
    Column("created_at", "Placed"),
    Column("order_id", "Order"),
    Column("status", "Status"),
    Column("channel", "Channel"),
    Column("store_id", "Store"),
    Column("units", "Units", numeric=True),
    Column("total", "Total (£)", numeric=True),
    Column("history", "Status history"),
)
SECTIONS = ("orders", "open_orders", "loyalty", "churn", "feedback", "recommendations")


def link(customer_id: str) -> str:
    return f"/ui/customers/{quote(customer_id, safe='')}"


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else ""


def _runtime(request: Request) -> Runtime | None:
    """The Bento's runtime (models, features, stock), as the profile API reads it; None in an app without one."""
    return getattr(request.app.state, "runtime", None)


@router.get("/customers", response_class=HTMLResponse, response_model=None)
def find(
    request: Request,
    engine: Db,
    _: Staff,
    q: Annotated[str, Query(max_length=customers.QUERY_MAX)] = "",
    found_sort: SortParam = None,
    found_page: PageParam = 1,
) -> Response:
    """Find a customer by id, name or email (or their start, any case); an exact id opens their 360 page."""
    q = q.strip()
    found = None
    more = False
    if q:
        exact = customers.exact_id(engine, q)
        if exact is not None:
            return RedirectResponse(link(exact), status_code=303)
        with domain_errors():
            matches, more = customers.search(engine, q)
        rows = [
            {
                "customer_id": Markup('<a href="{}">{}</a>').format(link(c.customer_id), c.customer_id),
                "name": c.name,
                "email": c.email,
                "region": c.region,
                "created_at": c.created_at.strftime("%Y-%m-%d"),
            }
            for c in matches
        ]
        found = table("found", FOUND, rows, found_sort, found_page)
    base = "/ui/customers?" + urlencode({"q": q})
    return render(
        request,
        "customers.html",
        title="Find a customer",
        q=q,
        found=found,
        more=more,
        named=customers.named(engine),
        limit=customers.SEARCH_LIMIT,
        base=base,
    )


def _history(order: OrderOut) -> Markup:
    """Each status the order entered, oldest first, with when."""
    steps = (Markup("<span>{} <small>{}</small></span>").format(e.status, _when(e.at)) for e in order.history)
    return Markup(" → ").join(steps)


def _order_rows(found: list[OrderOut]) -> list[dict[str, Any]]:
    return [
        {
            "created_at": _when(o.created_at),
            "order_id": o.order_id,
            "status": o.status,
            "channel": o.channel,
            "store_id": o.store_id,
            "units": sum(line.quantity for line in o.lines),
            "total": o.total,
            "history": _history(o),
        }
        for o in found
    ]


def _notes(lines: list[str]) -> dict[str, list[str]]:
    """The profile's notes by section ("churn: ..." or "recommendations (up_sell): ..." -> that section)."""
    by: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        name = line.split(":", 1)[0].split(" (", 1)[0].strip()
        by[name if name in SECTIONS else "other"].append(line)
    return by


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
def customer_page(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    caller: Staff,
    orders_sort: SortParam = "-created_at",
    orders_page: PageParam = 1,
) -> HTMLResponse:
    """The 360 page: orders and their histories, loyalty, churn risk and drivers, feedback, suggested items."""
    hidden = refused(caller.role)
    with domain_errors():
        found = profile(engine, _runtime(request), customer_id, hidden, caller.role in OPERATORS)
        listed = [] if "orders" in hidden else orders.customer_orders(engine, customer_id, ORDERS_SHOWN)
    history = table("orders", ORDERS, _order_rows(listed), orders_sort, orders_page)
    return render(
        request,
        "customer.html",
        title=f"Customer {customer_id}",
        p=found,
        notes=_notes(found.notes),
        orders_table=history,
        orders_shown=ORDERS_SHOWN,
        base=link(customer_id),
    )
