"""Order entry's catalogue for one customer: search and filter, a product's page, and a comparison.

Every figure comes from the functions the API calls: the search is `serving.commerce.catalog.search` (as `GET
/v1/products`), the product page `serving.endpoints.products.product` and `upgrade_options` (as `GET
/v1/products/{id}` and `/upgrades`), the comparison `comparison` (as `GET /v1/products/compare`); the stock
at this store beside each result is `carts.available_at`, what a cart shows. "Nearby" stores are the stores of
this store's region; they are listed first after this store, then the other shops, then the online shop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from serving.commerce import carts, catalog, products
from serving.commerce.api import CustomerIdPath, ProductIdPath, domain_errors
from serving.commerce.payloads import ID_PATTERN
from serving.commerce.product_payloads import StoreStock
from serving.commerce.tables import Product
from serving.endpoints.products import OPERATORS, comparison, upgrade_options
from serving.endpoints.products import product as product_detail
from serving.web.order_entry_base import (
    Db,
    Staff,
    StoreParam,
    StoreView,
    Where,
    all_stores,
    cart_of,
    customer,
    frame,
    here,
    where,
)
from serving.web.render import render

log = logging.getLogger(__name__)
router = APIRouter()
PER_PAGE = 12  # results a page: a phone shows them one under another
UPGRADES_SHOWN = 5
CATEGORIES_SECONDS = 60.0  # the categories listed in the filter are read again after this
_categories: dict[int, tuple[float, list[str]]] = {}
_lock = threading.Lock()


class Browse(BaseModel):
    """The catalogue's GET parameters: the search API's query and filters, the store, and a cursor."""

    model_config = ConfigDict(extra="forbid")

    store: str | None = Field(None, max_length=64, pattern=ID_PATTERN)
    q: str = Field("", max_length=catalog.MAX_Q)
    category: str | None = Field(None, max_length=128)
    tier: catalog.Tier | None = None
    min_price: float | None = Field(None, ge=0, le=catalog.MAX_PRICE)
    max_price: float | None = Field(None, ge=0, le=catalog.MAX_PRICE)
    here: bool = Field(False, description="Only products in stock at this store.")
    sort: catalog.Sort | None = None
    cursor: str | None = Field(None, max_length=400)
    added: str | None = Field(None, max_length=64)
    created: bool = Field(False, description="The customer was just added (a notice says so).")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """An empty form field means no filter."""
        return {k: v for k, v in data.items() if v != ""} if isinstance(data, dict) else data

    def filtered(self) -> bool:
        return any(
            v is not None for v in (self.category, self.tier, self.min_price, self.max_price, self.sort)
        ) or bool(self.here)

    def params(self, **changes: Any) -> dict[str, Any]:
        """These parameters for a link (without the flash and, unless changed, without the cursor)."""
        kept = self.model_dump(exclude={"added", "created", "cursor", "store"}, exclude_none=True) | changes
        return {k: v for k, v in kept.items() if v not in (None, "", False)}


def categories(engine: Engine) -> list[str]:
    """The catalogue's categories, for the filter (kept per process for a minute)."""
    now = time.monotonic()
    with _lock:
        hit = _categories.get(id(engine))
    if hit is not None and hit[0] > now:
        return hit[1]
    with Session(db.reader(engine)) as s:
        found = sorted(c for c in s.scalars(select(Product.category).distinct()) if c)
    with _lock:
        _categories[id(engine)] = (now + CATEGORIES_SECONDS, found)
    return found


def stock_here(engine: Engine, store_id: str, ids: list[str]) -> dict[str, int]:
    """Units available at the store for each product, as the cart counts them."""
    with Session(db.reader(engine)) as s:
        return carts.available_at(s, store_id, ids)


def by_distance(stock: list[StoreStock], at: Where, stores: list[StoreView]) -> list[dict[str, Any]]:
    """The stores that keep a product: this store first, then its region's ("nearby"), then the other shops, then
    the online shop; those with stock first within each."""
    region = {s.store_id: s.region for s in stores}
    mine = at.store.region

    def rank(x: StoreStock) -> tuple[int, bool, str]:
        if x.store_id == at.store_id:
            return (0, False, x.name)
        if mine is not None and region.get(x.store_id) == mine:
            return (1, x.available <= 0, x.name)
        return (2 if x.kind == "store" else 3, x.available <= 0, x.name)  # other shops, then the online shop

    return [
        {
            "store_id": x.store_id,
            "name": x.name,
            "kind": x.kind,
            "region": region.get(x.store_id),
            "available": x.available,
            "where": "this store"
            if x.store_id == at.store_id
            else ("nearby" if mine is not None and region.get(x.store_id) == mine else ""),
        }
        for x in sorted(stock, key=rank)
    ]


@router.get("/order-entry/customers/{customer_id}", response_class=HTMLResponse)
def catalogue(
    customer_id: CustomerIdPath, request: Request, engine: Db, caller: Staff, browse: Annotated[Browse, Query()]
) -> HTMLResponse:
    """The customer's catalogue: search and filters, results as cards with price, rating, stock here and Add."""
    at = where(engine, caller, browse.store)
    who = customer(engine, customer_id)
    cart = cart_of(engine, caller, customer_id, at)
    with domain_errors():  # no words and no filter: the most bought products
        found = catalog.search(
            engine,
            browse.q.strip() or None,
            category=browse.category,
            tier=browse.tier,
            min_price=browse.min_price,
            max_price=browse.max_price,
            in_stock=at.store_id if browse.here else None,
            sort=browse.sort,
            cursor=browse.cursor,
            limit=PER_PAGE,
        )
    ids = [p.product_id for p in found.items]
    in_cart = {line.product_id: line.quantity for line in cart.lines}
    return render(
        request,
        "order_entry_catalogue.html",
        title=f"Catalogue · {who.name or who.customer_id}",
        **frame(at, who, "catalogue", cart),
        browse=browse,
        found=found,
        stock=stock_here(engine, at.store_id, ids),
        in_cart=in_cart,
        categories=categories(engine),
        tiers=products.TIERS,
        sorts=SORTS,
        back=here(request.url.path, request.url.query),
        added=_name(engine, browse.added),
        max_compare=products.MAX_COMPARE,
    )


SORTS: dict[str, str] = {
    "relevance": "Best match",
    "popularity": "Most bought",
    "rating": "Best rated",
    "price": "Price, low to high",
    "-price": "Price, high to low",
}


def _name(engine: Engine, product_id: str | None) -> str | None:
    """The product's name for the "added" notice; None when there is no such product."""
    if not product_id:
        return None
    with Session(db.reader(engine)) as s:
        found = s.get(Product, product_id)
        return found.name if found is not None else None


@router.get("/order-entry/customers/{customer_id}/products/{product_id}", response_class=HTMLResponse)
def product(
    customer_id: CustomerIdPath,
    product_id: ProductIdPath,
    request: Request,
    engine: Db,
    caller: Staff,
    store: StoreParam = None,
    added: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """A product for this customer: specifications, stock here and nearby, complements and upgrades, Add."""
    at = where(engine, caller, store)
    who = customer(engine, customer_id)
    cart = cart_of(engine, caller, customer_id, at)
    rt, detailed = getattr(request.app.state, "runtime", None), caller.role in OPERATORS
    with domain_errors():
        shown = product_detail(engine, rt, product_id, at.store_id, detailed)
        better = upgrade_options(engine, rt, product_id, at.store_id, UPGRADES_SHOWN, detailed)
    suggested = [s.product_id for s in shown.complements]
    return render(
        request,
        "order_entry_product.html",
        title=shown.name,
        **frame(at, who, "catalogue", cart),
        p=shown,
        better=better,
        stores=by_distance(shown.availability.stores, at, all_stores(engine)),
        stock=stock_here(engine, at.store_id, suggested),
        in_cart={line.product_id: line.quantity for line in cart.lines},
        back=here(request.url.path, request.url.query),
        added=_name(engine, added),
    )


@router.get("/order-entry/customers/{customer_id}/compare", response_class=HTMLResponse)
def compare(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    caller: Staff,
    ids: Annotated[list[str], Query(max_length=10)] = [],  # noqa: B006 - FastAPI copies a default list
    store: StoreParam = None,
    added: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """2 to 5 products side by side (as `GET /v1/products/compare`), each with Add."""
    at = where(engine, caller, store)
    who = customer(engine, customer_id)
    cart = cart_of(engine, caller, customer_id, at)
    wanted = list(dict.fromkeys(p.strip() for i in ids for p in i.split(",") if p.strip()))  # ticked, or "P1,P2"
    if not 2 <= len(wanted) <= products.MAX_COMPARE:
        return render(
            request,
            "order_entry_compare.html",
            status_code=422,
            title="Compare",
            **frame(at, who, "catalogue", cart),
            error=f"ids: tick 2 to {products.MAX_COMPARE} products to compare, not {len(wanted)}",
            c=None,
        )
    rt = getattr(request.app.state, "runtime", None)
    with domain_errors():
        shown = comparison(engine, rt, wanted, at.store_id, caller.role in OPERATORS)
    return render(
        request,
        "order_entry_compare.html",
        title="Compare",
        **frame(at, who, "catalogue", cart),
        c=shown,
        error=None,
        in_cart={line.product_id: line.quantity for line in cart.lines},
        back=here(request.url.path, request.url.query),
        added=_name(engine, added),
    )
