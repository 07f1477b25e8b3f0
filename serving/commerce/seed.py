"""`retail db init`: the catalogue and stock of the application database, from the workspace's raw tables.

Customers, products (price: `list_price`, else the median selling price of the product's last 90 days of sales,
else of all its sales; brand, tier and description; rating count and sum from the raw reviews; units sold from the
positive transaction lines), their specifications (raw `product_attributes`, in file order), stores and inventory
(the newest `on_hand` per store and product) become rows. From then
on the database is the source of truth for stock, so seeding is idempotent by only ever **adding**: a row whose
key is already there is left exactly as it is (a second run adds what is new in the raw tables and never
duplicates a row nor resets stock that orders have moved). Ids found only in transactions or inventory still
get a row (a product named by its id, a store of kind `store`), so every order the data mentions can be placed;
transactions without a store column are online sales at one online store (`features.derived`), which gets a row.
Products recorded before the raw data had them (a database seeded by an earlier version) gain a missing brand, tier,
description or specification, and their review and sales counts when both are still zero; nothing else changes.
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
from serving.commerce.tables import Customer, Inventory, Product, ProductAttribute, Store

log = logging.getLogger(__name__)
RECENT = timedelta(days=90)
CHUNK = 2_000
DETAILS = ("brand", "tier", "description")  # product columns a later seed fills where they are missing
NAME_CHARS, VALUE_CHARS = 64, 256  # product_attributes.name and .value


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


def _counts(reviews: pd.DataFrame | None, tx: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Per product: rating count and sum of the raw reviews, units sold on the positive transaction lines."""
    counts: dict[str, dict[str, int]] = {}
    sold = tx[tx["quantity"] > 0].groupby("product_id")["quantity"].sum()
    for p, units in sold.items():
        counts.setdefault(str(p), {})["sold_units"] = int(units)
    if reviews is not None and len(reviews):
        rated = reviews.groupby("product_id")["rating"].agg(["size", "sum"])
        for p, n, total in zip(rated.index, rated["size"], rated["sum"], strict=True):
            counts.setdefault(str(p), {}).update(rating_count=int(n), rating_sum=int(total))
    return counts


def _products(tables: dict[str, pd.DataFrame | None]) -> list[dict[str, Any]]:
    products, tx, inventory = tables["products"], tables["transactions"], tables["inventory"]
    assert tx is not None
    price = prices_cents(products, tx)
    named: dict[str, dict[str, Any]] = {}
    if products is not None:
        columns = [_column(products, c) for c in ("category", *DETAILS)]
        for p, name, category, brand, tier, description in zip(
            products["product_id"], products["name"], *columns, strict=True
        ):
            named[p] = {
                "name": str(name),
                "category": _text(category),
                "brand": _text(brand),
                "tier": _text(tier),
                "description": _text(description),
            }
    counts = _counts(tables.get("reviews"), tx)
    ids = set(named) | set(tx["product_id"]) | (set() if inventory is None else set(inventory["product_id"]))
    unnamed = {"category": None, "brand": None, "tier": None, "description": None}
    zero = {"rating_count": 0, "rating_sum": 0, "sold_units": 0}
    return [
        {"product_id": p, "name": p, **unnamed, **named.get(p, {}), "price_cents": price.get(p, 0)}
        | zero
        | counts.get(p, {})
        for p in sorted(ids)
    ]


def _specifications(attributes: pd.DataFrame | None, products: set[str]) -> list[dict[str, Any]]:
    """Specification rows of known products, `position` = order in the raw table; long texts are cut to fit."""
    if attributes is None or attributes.empty:
        return []
    known = attributes[attributes["product_id"].isin(products)]
    if len(known) < len(attributes):
        log.warning("%d specification rows name products the data does not have", len(attributes) - len(known))
    position = known.groupby("product_id", sort=False).cumcount()
    rows = [
        {"product_id": p, "name": str(name)[:NAME_CHARS], "value": str(value)[:VALUE_CHARS], "position": int(at)}
        for p, name, value, at in zip(known["product_id"], known["name"], known["value"], position, strict=True)
    ]
    cut = known["name"].str.len().gt(NAME_CHARS).sum() + known["value"].str.len().gt(VALUE_CHARS).sum()
    if cut:
        log.warning("%d specification names or values were cut to %d / %d characters", cut, NAME_CHARS, VALUE_CHARS)
        rows = list({(r["product_id"], r["name"]): r for r in reversed(rows)}.values())[::-1]  # first of a cut name
    return rows


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
    products = _products(tables)
    return {
        Customer: _customers(tables["customers"], tx, now),
        Product: products,
        Store: _stores(tables["stores"], tx, inventory),
        Inventory: _stock(inventory, now),
        ProductAttribute: _specifications(tables["product_attributes"], {r["product_id"] for r in products}),
    }


KEYS: dict[type, tuple[str, ...]] = {
    Customer: ("customer_id",),
    Product: ("product_id",),
    Store: ("store_id",),
    Inventory: ("store_id", "product_id"),
    ProductAttribute: ("product_id", "name"),
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


def _describe_products(s: Session, rows: list[dict[str, Any]]) -> None:
    """Give products recorded without a brand, tier or description the raw table's, and counts where both are 0."""
    by_id = {r["product_id"]: r for r in rows}
    for column in DETAILS:
        lacking = set(s.scalars(select(Product.product_id).where(getattr(Product, column).is_(None))))
        filled = [{"product_id": p, column: by_id[p][column]} for p in sorted(lacking & set(by_id)) if by_id[p][column]]
        for start in range(0, len(filled), CHUNK):
            s.execute(update(Product), filled[start : start + CHUNK])
    uncounted = set(s.scalars(select(Product.product_id).where(Product.rating_count == 0, Product.sold_units == 0)))
    counts = ("rating_count", "rating_sum", "sold_units")
    counted = [
        {"product_id": p, **{c: r[c] for c in counts}}
        for p, r in sorted(by_id.items())
        if p in uncounted and (r["rating_count"] or r["sold_units"])
    ]
    for start in range(0, len(counted), CHUNK):
        s.execute(update(Product), counted[start : start + CHUNK])


def seed(engine: Engine, ws: Workspace) -> dict[str, int]:
    """Add the raw tables' customers, products, specifications, stores and stock that the database lacks; rows
    added per table."""
    names = ("transactions", "customers", "products", "product_attributes", "stores", "inventory", "reviews")
    tables = {name: read_table(ws, name) for name in names}
    if tables["transactions"] is None:
        raise FileNotFoundError(f"no transactions in {ws.raw_dir}: simulate or import a data set first")
    rows = _rows(tables, _now())
    added: dict[str, int] = {}
    with Session(engine) as s, s.begin():
        for table in (Customer, Product, Store, Inventory, ProductAttribute):  # parents before the rows naming them
            key = KEYS[table]
            columns = [getattr(table, k) for k in key]
            present = {tuple(r) for r in s.execute(select(*columns))}
            new = [r for r in rows[table] if tuple(r[k] for k in key) not in present]
            for start in range(0, len(new), CHUNK):
                s.execute(insert(table), new[start : start + CHUNK])
            added[table.__tablename__] = len(new)  # type: ignore[attr-defined]
        _name_customers(s, rows[Customer])
        _describe_products(s, rows[Product])
    log.info("seeded %s from %s", added, ws.raw_dir)
    return added
