"""What every order-entry page shares: who may open them, the store they act for, and links that keep it.

A store key works for its own store only (another store in the URL is a 403, as `check_store` answers the API);
the other roles pick a store, the online shop by default, and every link and form carries it (`?store=`), so
the choice survives a reload and two tabs may work for two stores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from fastapi import Depends, HTTPException, Query
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from serving.auth import Caller, check_store, require
from serving.commerce import carts, customers
from serving.commerce.cart_payloads import CartOut
from serving.commerce.customers import CustomerOut
from serving.commerce.errors import NotFound
from serving.commerce.payloads import ID_PATTERN, Channel
from serving.commerce.tables import Store
from serving.deps import database
from serving.web.pages import BY_NAME

log = logging.getLogger(__name__)
PAGE = BY_NAME["order-entry"]
ROOT = PAGE.path
Staff = Annotated[Caller, Depends(require(*PAGE.roles))]
Db = Annotated[Engine, Depends(database)]
StoreParam = Annotated[str | None, Query(max_length=64, pattern=ID_PATTERN, description="The store to act for.")]


@dataclass(frozen=True)
class StoreView:
    store_id: str
    name: str
    kind: str
    region: str | None


@dataclass(frozen=True)
class Where:
    """The store the pages act for, whether the caller may change it, and the stores to choose from."""

    store: StoreView
    fixed: bool
    stores: list[StoreView]

    @property
    def store_id(self) -> str:
        return self.store.store_id


def all_stores(engine: Engine) -> list[StoreView]:
    """Every store, the online shops first, then by name."""
    with Session(db.reader(engine)) as s:
        rows = s.scalars(select(Store)).all()
        found = [StoreView(r.store_id, r.name, r.kind, r.region) for r in rows]
    return sorted(found, key=lambda x: (x.kind != "online", x.name, x.store_id))


def where(engine: Engine, caller: Caller, asked: str | None) -> Where:
    """The store to act for: a store key's own (another is a 403), else the one asked for, else the online shop."""
    stores = all_stores(engine)
    if caller.role == "store":
        if asked:
            check_store(caller, asked)
        asked = caller.store_id
    by_id = {x.store_id: x for x in stores}
    if asked:
        if asked not in by_id:
            raise HTTPException(404, f"store: unknown store {asked!r}")
        chosen = by_id[asked]
    elif stores:
        chosen = stores[0]  # the online shop when there is one
    else:
        raise HTTPException(404, "store: this workspace has no stores (run `retail db init`)")
    if caller.role == "store":
        return Where(chosen, True, [chosen])
    return Where(chosen, False, stores)


def customer(engine: Engine, customer_id: str) -> CustomerOut:
    """The customer's record, or the 404 page."""
    try:
        return customers.customer(engine, customer_id)
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None


def url(path: str, store: str | None = None, **params: Any) -> str:
    """`ROOT + path` with the store and the other parameters that are set (lists repeat their name)."""
    pairs: list[tuple[str, Any]] = [("store", store)] if store else []
    for name, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs += [(name, v) for v in values if v is not None and v != "" and v is not False]
    return ROOT + path + ("?" + urlencode(pairs) if pairs else "")


def customer_path(customer_id: str, rest: str = "") -> str:
    """The customer's pages below `ROOT`: `/customers/{id}` + rest."""
    return f"/customers/{quote(customer_id, safe='')}{rest}"


def pounds(value: float | None) -> str:
    """An API amount in currency units as the pages show it."""
    return "" if value is None else f"£{value:,.2f}"


def channel(caller: Caller) -> Channel:
    """The channel an order-entry change or order is made in: `store` for store keys, else `sales_rep`."""
    return "store" if caller.role == "store" else "sales_rep"


def cart_of(engine: Engine, caller: Caller, customer_id: str, at: Where) -> CartOut:
    """The customer's one cart, as `GET /v1/customers/{id}/cart` answers it (made at this store on first use)."""
    try:
        cart, _ = carts.customer_cart(engine, customer_id, at.store_id, channel(caller))
    except NotFound as exc:
        raise HTTPException(404, exc.message) from None
    return cart


def frame(at: Where, who: CustomerOut, step: str, cart: CartOut | None) -> dict[str, Any]:
    """What the order-entry layout needs: the store, the customer, the step, the cart's size, link helpers."""
    return {
        "at": at,
        "customer": who,
        "cbase": customer_path(who.customer_id),
        "step": step,
        "cart": cart,
        "cart_units": cart.items if cart is not None else None,
        "url": url,
        "quote": lambda text: quote(text, safe=""),
        "pounds": pounds,
        "root": ROOT,
    }


def here(path: str, query: str) -> str:
    """The page's own address, to come back to after a form (`back`)."""
    return path + ("?" + query if query else "")


def back_to(back: str | None, fallback: str, **flash: str) -> str:
    """Where a form returns to: `back` when it is one of these pages (never another site), else `fallback`; with
    `flash` set in its query (replacing any earlier one)."""
    target = fallback
    if back and back.startswith(ROOT) and "//" not in back and "\\" not in back and not urlsplit(back).netloc:
        target = back
    parts = urlsplit(target)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("added", "done", *flash)]
    kept += [(k, v) for k, v in flash.items() if v]
    return parts.path + ("?" + urlencode(kept) if kept else "")
