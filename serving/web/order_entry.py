"""The order-entry pages for sales reps and store associates, phone first: find or add the customer, then the
catalogue, the customer's cart and checkout (`order_entry_catalogue`, `order_entry_cart`), and the order.

Step one lives here: the store the pages act for and the customer. Customers are found as the customers page
finds them (`serving.commerce.customers.search`: id, name or email, or their start).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from serving.commerce import customers
from serving.commerce.api import domain_errors
from serving.web.order_entry_base import ROOT, Db, Staff, StoreParam, customer_path, url, where
from serving.web.render import render

log = logging.getLogger(__name__)
router = APIRouter()
FOUND_SHOWN = 25  # customers listed for a search (type more to narrow it)


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
    return render(
        request,
        "order_entry.html",
        title="Order entry",
        at=at,
        q=q,
        found=found,
        more=more,
        shown=FOUND_SHOWN,
        named=customers.named(engine),
        url=url,
        customer_path=customer_path,
        root=ROOT,
    )
