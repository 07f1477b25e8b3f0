"""`retail db init`: the catalogue and stock of the application database, from the workspace's raw tables.

Customers, products (price: `list_price`, else the median selling price of the product's last 90 days of sales,
else of all its sales), stores and inventory (the newest `on_hand` per store and product) become rows. From then
on the database is the source of truth for stock, so seeding is idempotent by only ever **adding**: a row whose
key is already there is left exactly as it is (a second run adds what is new in the raw tables and never
duplicates a row nor resets stock that orders have moved). Ids found only in transactions or inventory still
get a row (a product named by its id, a store of kind `store`), so every order the data mentions can be placed;
transactions without a store column are online sales at one online store (`features.derived`), which gets a row.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from features.derived import has_stores, online_store_id, stores_from, with_store
from features.rawio import read_table
from retail.workspace import Workspace
from serving.commerce.stock import latest_on_hand
from serving.commerce.tables import Customer, Inventory, Product, Store

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


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    """An optional contract column, or all-missing when the table does not have it."""
    return frame[name] if name in frame else pd.Series(None, index=frame.index, dtype=object)


def _customers(customers: pd.DataFrame | None, tx: pd.DataFrame, now: datetime) -> list[dict[str, Any]]:
    rows = []
    if customers is not None:
        columns = (_column(customers, name) for name in ("region", "signup_date", "name", "email"))
        for c, region, signup, name, email in zip(customers["customer_id"], *columns, strict=True):
            created = now if pd.isna(signup) else pd.Timestamp(signup).to_pydatetime()
            address = _text(email)
            rows.append(
                {
                    "customer_id": c,
                    "region": _text(region),
                    "created_at": created,
                    "name": _text(name),
                    "email": address.lower() if address else None,
                }
            )
    listed = {r["customer_id"] for r in rows}
    buyers = sorted(set(tx["customer_id"].dropna()) - listed)  # customers only the transactions know
    return rows + [{"customer_id": c, "region": None, "created_at": now, "name": None, "email": None} for c in buyers]


def _products(products: pd.DataFrame | None, tx: pd.DataFrame, inventory: pd.DataFrame | None) -> list[dict[str, Any]]:
    price = prices_cents(products, tx)
    named: dict[str, tuple[str, str | None]] = {}
    if products is not None:
        for p, name, category in zip(
            products["product_id"], products["name"], _column(products, "category"), strict=True
        ):
            named[p] = (str(name), _text(category))
    ids = set(named) | set(tx["product_id"]) | (set() if inventory is None else set(inventory["product_id"]))
    return [
        {
            "product_id": p,
            "name": named.get(p, (p, None))[0],
            "category": named.get(p, (p, None))[1],
            "price_cents": price.get(p, 0),
        }
        for p in sorted(ids)
    ]


def _stores(stores: pd.DataFrame | None, tx: pd.DataFrame, inventory: pd.DataFrame | None) -> list[dict[str, Any]]:
    rows = []
    if stores is not None:
        for s, name, kind, region in zip(
            stores["store_id"], stores["name"], stores["kind"], _column(stores, "region"), strict=True
        ):
            rows.append({"store_id": s, "name": str(name), "kind": str(kind), "region": _text(region)})
    online = None if has_stores(tx) else online_store_id(stores)  # no stores in the lines: one online store
    seen = set() if inventory is None else set(inventory["store_id"])
    sold = with_store(tx, stores)
    seen |= set(sold["store_id"].dropna())
    unknown = sorted(seen - {r["store_id"] for r in rows})  # stores only transactions or inventory name
    derived = stores_from(pd.DataFrame({"store_id": unknown}), online)
    return rows + [
        {"store_id": s, "name": name, "kind": kind, "region": None}
        for s, name, kind in derived[["store_id", "name", "kind"]].itertuples(index=False)
    ]


def _stock(inventory: pd.DataFrame | None, now: datetime) -> list[dict[str, Any]]:
    if inventory is None:
        return []
    newest = latest_on_hand(inventory)[["store_id", "product_id", "on_hand"]]
    return [
        {"store_id": s, "product_id": p, "on_hand": max(int(q), 0), "reserved": 0, "updated_at": now}
        for s, p, q in newest.itertuples(index=False)
    ]


def _rows(tables: dict[str, pd.DataFrame | None], now: datetime) -> dict[type, list[dict[str, Any]]]:
    tx = tables["transactions"]
    assert tx is not None
    inventory = tables["inventory"]
    return {
        Customer: _customers(tables["customers"], tx, now),
        Product: _products(tables["products"], tx, inventory),
        Store: _stores(tables["stores"], tx, inventory),
        Inventory: _stock(inventory, now),
    }


KEYS: dict[type, tuple[str, ...]] = {
    Customer: ("customer_id",),
    Product: ("product_id",),
    Store: ("store_id",),
    Inventory: ("store_id", "product_id"),
}


def _name_customers(s: Session, rows: list[dict[str, Any]]) -> None:
    """Give customers recorded without a name or email the raw table's (a database seeded before it had them)."""
    unnamed = set(s.scalars(select(Customer.customer_id).where(Customer.name.is_(None), Customer.email.is_(None))))
    named = [
        {"customer_id": r["customer_id"], "name": r["name"], "email": r["email"]}
        for r in rows
        if r["customer_id"] in unnamed and (r["name"] or r["email"])
    ]
    for start in range(0, len(named), CHUNK):
        s.execute(update(Customer), named[start : start + CHUNK])


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
        _name_customers(s, rows[Customer])
    log.info("seeded %s from %s", added, ws.raw_dir)
    return added
