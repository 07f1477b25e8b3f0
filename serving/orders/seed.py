"""`retail db init`: the catalogue and stock of the application database, from the workspace's raw tables.

Customers, products (price: `list_price`, else the median selling price of the product's last 90 days of sales,
else of all its sales), stores and inventory (the newest `on_hand` per store and product) become rows. From then
on the database is the source of truth for stock, so seeding is idempotent by only ever **adding**: a row whose
key is already there is left exactly as it is (a second run adds what is new in the raw tables and never
duplicates a row nor resets stock that orders have moved). Ids found only in transactions or inventory still
get a row (a product named by its id, a store of kind `store`), so every order the data mentions can be placed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from features.rawio import read_table
from retail.db.tables import Customer, Inventory, Product, Store
from retail.workspace import Workspace
from serving.stock import latest_on_hand

log = logging.getLogger(__name__)
RECENT = timedelta(days=90)
CHUNK = 2_000


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def prices_cents(products: pd.DataFrame | None, tx: pd.DataFrame) -> dict[str, int]:
    """List price where known, else the median unit price of recent sales (returns and zero prices left out)."""
    sold = tx[(tx["quantity"] > 0) & (tx["unit_price"] > 0)]
    recent = sold[sold["ts"] >= sold["ts"].max() - RECENT] if len(sold) else sold
    median = sold.groupby("product_id")["unit_price"].median()
    median.update(recent.groupby("product_id")["unit_price"].median())
    price = median.to_dict()
    if products is not None and "list_price" in products:
        listed = products.dropna(subset=["list_price"])
        price.update(zip(listed["product_id"], listed["list_price"], strict=True))
    return {str(p): max(round(float(v) * 100), 0) for p, v in price.items()}


def _rows(tables: dict[str, pd.DataFrame | None], now: datetime) -> dict[type, list[dict[str, Any]]]:
    tx = tables["transactions"]
    assert tx is not None
    customers, products, stores, inventory = (tables[n] for n in ("customers", "products", "stores", "inventory"))
    out: dict[type, list[dict[str, Any]]] = {}
    if customers is not None:
        region = customers["region"] if "region" in customers else pd.Series(None, index=customers.index)
        signup = customers["signup_date"] if "signup_date" in customers else pd.Series(None, index=customers.index)
        out[Customer] = [
            {"customer_id": c, "region": _text(r), "created_at": now if pd.isna(d) else d.to_pydatetime()}
            for c, r, d in zip(customers["customer_id"], region, signup, strict=True)
        ]
    else:
        out[Customer] = []
    listed = {r["customer_id"] for r in out[Customer]}
    out[Customer] += [
        {"customer_id": c, "region": None, "created_at": now} for c in sorted(set(tx["customer_id"].dropna()) - listed)
    ]
    price = prices_cents(products, tx)
    named = {} if products is None else {p: (n, c) for p, n, c in _product_fields(products)}
    ids = set(named) | set(tx["product_id"]) | (set() if inventory is None else set(inventory["product_id"]))
    out[Product] = [
        {
            "product_id": p,
            "name": named.get(p, (p, None))[0],
            "category": named.get(p, (p, None))[1],
            "price_cents": price.get(p, 0),
        }
        for p in sorted(ids)
    ]
    out[Store] = (
        []
        if stores is None
        else [
            {"store_id": s, "name": n, "kind": k, "region": None if r is None else _text(r)}
            for s, n, k, r in zip(
                stores["store_id"],
                stores["name"],
                stores["kind"],
                stores["region"] if "region" in stores else [None] * len(stores),
                strict=True,
            )
        ]
    )
    known = {r["store_id"] for r in out[Store]}
    seen = set() if inventory is None else set(inventory["store_id"])
    if "store_id" in tx:
        seen |= set(tx["store_id"].dropna())
    out[Store] += [{"store_id": s, "name": s, "kind": "store", "region": None} for s in sorted(seen - known)]
    out[Inventory] = (
        []
        if inventory is None
        else [
            {"store_id": s, "product_id": p, "on_hand": max(int(q), 0), "reserved": 0, "updated_at": now}
            for s, p, q in latest_on_hand(inventory)[["store_id", "product_id", "on_hand"]].itertuples(index=False)
        ]
    )
    return out


def _product_fields(products: pd.DataFrame) -> Iterable[tuple[str, str, str | None]]:
    category = products["category"] if "category" in products else [None] * len(products)
    return zip(products["product_id"], products["name"], (_text(c) for c in category), strict=False)


KEYS: dict[type, tuple[str, ...]] = {
    Customer: ("customer_id",),
    Product: ("product_id",),
    Store: ("store_id",),
    Inventory: ("store_id", "product_id"),
}


def seed(engine: Engine, ws: Workspace) -> dict[str, int]:
    """Add the raw tables' customers, products, stores and stock that the database lacks; rows added per table."""
    tables = {name: read_table(ws, name) for name in ("transactions", "customers", "products", "stores", "inventory")}
    if tables["transactions"] is None:
        raise FileNotFoundError(f"no transactions in {ws.raw_dir}: simulate or import a data set first")
    rows = _rows(tables, _now())
    added: dict[str, int] = {}
    with Session(engine) as s, s.begin():
        for table in (Customer, Product, Store, Inventory):  # parents before the stock rows that refer to them
            key = KEYS[table]
            columns = [getattr(table, k) for k in key]
            present = {tuple(r) for r in s.execute(select(*columns))}
            new = [r for r in rows[table] if tuple(r[k] for k in key) not in present]
            for start in range(0, len(new), CHUNK):
                s.execute(insert(table), new[start : start + CHUNK])
            added[table.__tablename__] = len(new)  # type: ignore[attr-defined]
    log.info("seeded %s from %s", added, ws.raw_dir)
    return added
