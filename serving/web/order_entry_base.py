"""What every order-entry page shares: who may open them, the store they act for, and links that keep it.

A store key works for its own store only (another store in the URL is a 403, as `check_store` answers the API);
the other roles pick a store, the online shop by default, and every link and form carries it (`?store=`), so
the choice survives a reload and two tabs may work for two stores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, HTTPException, Query
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from serving.auth import Caller, check_store, require
from serving.commerce import customers
from serving.commerce.customers import CustomerOut
from serving.commerce.errors import NotFound
from serving.commerce.payloads import ID_PATTERN
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


def pounds(cents: int | None) -> str:
    return "" if cents is None else f"£{cents / 100:,.2f}"


def units(value: float | None) -> str:
    """An API amount in currency units as the pages show it."""
    return "" if value is None else f"£{value:,.2f}"
