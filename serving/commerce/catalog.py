"""Catalogue search: the database's own full text, filters, sorts and keyset pages, on SQLite and PostgreSQL alike.

Text (`catalog_text`): the words of `q` must all match (name, description, category or brand, stemmed); the last
word matches as a prefix, so "kett" finds kettles while it is being typed. SQLite answers with FTS5, PostgreSQL
with a `tsvector` column and its GIN index (migration 0012). When no product matches every word, the answer falls
back to typo-tolerant matching (`fuzzy: true` in the page): each word that matches nothing is respelt as the nearest
word of the catalogue (by trigram similarity, `pg_trgm`, on PostgreSQL; by edits against the index's vocabulary on
SQLite). `benchmarks/catalog_search.py` measures how often either finds the product meant.

On PostgreSQL each search plans its statements for its own words (`plan_cache_mode`): after five runs of one
statement psycopg prepares it, and PostgreSQL's generic plan for "any product matches these words" cannot tell a
word in 10,000 products from a typo in none; it scanned every product for the typo (48 ms at the median on 100,000
products, against 11 ms planned for the words).

Order: relevance (text score, then units sold), price either way, popularity (units sold) or rating (average,
then number of ratings); product id breaks ties, so every order is total and a cursor (the last row's sort key,
opaque) resumes exactly after the last product shown: no duplicates, no gaps.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Engine, and_, case, cast, func, literal_column, or_, select
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from retail import db
from serving.commerce import catalog_text
from serving.commerce.errors import Invalid
from serving.commerce.payloads import money
from serving.commerce.tables import Inventory, Product, Store

log = logging.getLogger(__name__)

Sort = Literal["relevance", "price", "-price", "popularity", "rating"]
Tier = Literal["good", "better", "best"]
MAX_Q = 200
MAX_LIMIT = 100
MAX_PRICE = 10_000_000.0  # currency units: above any price a 32-bit cents column holds
COLUMNS = (
    Product.product_id,
    Product.name,
    Product.brand,
    Product.category,
    Product.tier,
    Product.price_cents,
    Product.rating_count,
    Product.rating_sum,
    Product.sold_units,
)


class ProductHit(BaseModel):
    product_id: str = Field(examples=["P0042"])
    name: str = Field(examples=["Northwind kettle Premium"])
    brand: str | None
    category: str | None
    tier: str | None = Field(description="good | better | best; None when the catalogue has no tiers.")
    price: float = Field(description="Current price, in currency units.")
    rating_average: float | None = Field(description="Mean stars (1-5); None when the product has no ratings.")
    rating_count: int
    popularity: int = Field(description="Units sold (raw history, then paid orders less cancellations).")
    available: int | None = Field(
        default=None,
        description="Units available at the `in_stock` store (all online stores for `online`); "
        "None when `in_stock` is not given.",
    )


class ProductPage(BaseModel):
    items: list[ProductHit]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; None on the last page.")
    fuzzy: bool = Field(
        default=False, description="True when no product matched every word of `q` and these are typo-tolerant matches."
    )


@dataclass(frozen=True)
class _Key:
    """One component of a sort order: an expression, its direction, and how a cursor's value compares with it."""

    expr: Any
    desc: bool

    def beyond(self, value: Any) -> Any:
        return self.expr < value if self.desc else self.expr > value

    def equal(self, value: Any) -> Any:
        return self.expr == value


@dataclass(frozen=True)
class _Average(_Key):
    """The rating average as an exact fraction: a cursor holds (sum, count) and rows are compared by cross-products."""

    def beyond(self, value: Any) -> Any:
        total, count = value
        return cast(Product.rating_sum, BigInteger) * count < cast(Product.rating_count, BigInteger) * total

    def equal(self, value: Any) -> Any:
        total, count = value
        return cast(Product.rating_sum, BigInteger) * count == cast(Product.rating_count, BigInteger) * total


def _keys(sort: str, score: Any | None) -> list[_Key]:
    """The order of `sort`; relevance without a score (a broad query) is units sold."""
    rated = case((Product.rating_count > 0, 1), else_=0)
    average = cast(Product.rating_sum, BigInteger) * 1.0 / func.nullif(Product.rating_count, 0)
    keys = {
        "relevance": ([] if score is None else [_Key(score, True)]) + [_Key(Product.sold_units, True)],
        "price": [_Key(Product.price_cents, False)],
        "-price": [_Key(Product.price_cents, True)],
        "popularity": [_Key(Product.sold_units, True)],
        "rating": [_Key(rated, True), _Average(average, True), _Key(Product.rating_count, True)],
    }[sort]
    return [*keys, _Key(Product.product_id, False)]


def _after(keys: list[_Key], values: list[Any]) -> Any:
    """Rows strictly after the cursor's row in the order of `keys`: (k1 beyond) or (k1 equal and k2 beyond) ..."""
    alternatives = []
    for i, key in enumerate(keys):
        alternatives.append(
            and_(*(k.equal(v) for k, v in zip(keys[:i], values[:i], strict=True)), key.beyond(values[i]))
        )
    return or_(*alternatives)


def _cursor_values(row: Any, sort: str) -> list[Any]:
    if sort == "relevance":
        return [row.score, row.sold_units, row.product_id]
    if sort in ("price", "-price"):
        return [row.price_cents, row.product_id]
    if sort == "popularity":
        return [row.sold_units, row.product_id]
    rated = 1 if row.rating_count > 0 else 0
    return [rated, [row.rating_sum, row.rating_count if rated else 1], row.rating_count, row.product_id]


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


def encode_cursor(sort: str, mode: tuple[bool, bool], fingerprint: str, values: list[Any]) -> str:
    """An opaque cursor: the sort, how the words were matched (fuzzy, broad), the query's fingerprint, the key."""
    fuzzy, broad = mode
    raw = json.dumps({"s": sort, "f": fuzzy, "b": broad, "h": fingerprint, "k": values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, fingerprint: str) -> tuple[tuple[bool, bool], list[Any]]:
    """((fuzzy, broad), key values) of a cursor this search gave; `Invalid` naming `cursor` for anything else."""
    bad = Invalid(f"cursor: not a cursor this search gave ({cursor[:40]!r}); start again without it", "cursor", cursor)
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("s") != sort or data.get("h") != fingerprint:
        raise bad
    values, fuzzy, broad = data.get("k"), data.get("f"), data.get("b")
    if not isinstance(values, list) or not isinstance(fuzzy, bool) or not isinstance(broad, bool):
        raise bad
    if not _well_typed(sort, values):
        raise bad
    return (fuzzy, broad), values


def _well_typed(sort: str, values: list[Any]) -> bool:
    def ints(*vs: Any) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**62 for v in vs)

    if not values or not isinstance(values[-1], str):
        return False
    head = values[:-1]
    if sort == "rating":
        return (
            len(head) == 3
            and isinstance(head[1], list)
            and len(head[1]) == 2
            and ints(head[0], head[2], *head[1])
            and head[1][1] > 0
        )
    return len(head) == {"relevance": 2}.get(sort, 1) and ints(*head)


def _stores(s: Session, in_stock: str) -> list[str]:
    """The store ids `in_stock` names: one store, or every online store for `online`."""
    if in_stock == "online":
        ids = list(s.scalars(select(Store.store_id).where(Store.kind == "online").order_by(Store.store_id)))
        if not ids:
            raise Invalid("in_stock: this catalogue has no online store", "in_stock", in_stock)
        return ids
    if s.get(Store, in_stock) is None:
        raise Invalid(f"in_stock: unknown store {in_stock!r} (a store id, or 'online')", "in_stock", in_stock)
    return [in_stock]


def _check(q: str | None, min_price: float | None, max_price: float | None, limit: int) -> None:
    if q is not None and len(q) > MAX_Q:
        raise Invalid(f"q: at most {MAX_Q} characters, not {len(q)}", "q", q[:40])
    for name, value in (("min_price", min_price), ("max_price", max_price)):
        if value is not None and not 0 <= value <= MAX_PRICE:
            raise Invalid(f"{name}: between 0 and {MAX_PRICE:.0f}, not {value}", name, value)
    if min_price is not None and max_price is not None and max_price < min_price:
        raise Invalid(f"max_price: {max_price} is below min_price {min_price}", "max_price", max_price)
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit: between 1 and {MAX_LIMIT}, not {limit}", "limit", limit)


def search(
    engine: Engine,
    q: str | None = None,
    *,
    category: str | None = None,
    tier: str | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    in_stock: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> ProductPage:
    """One page of products matching `q` (all words; typo-tolerant when none match them all) and the filters.

    Prices are in currency units (cents inside). `sort` defaults to relevance with a `q`, popularity without
    (relevance without words to score is popularity). `in_stock`: a store id or `online`; only products with units
    available there (on hand less reserved), each with its `available`. Raises `Invalid` naming the field.
    """
    _check(q, min_price, max_price, limit)
    terms = catalog_text.words(q or "")
    chosen = sort or ("relevance" if terms else "popularity")
    if chosen not in ("relevance", "price", "-price", "popularity", "rating"):
        raise Invalid(f"sort: one of relevance, price, -price, popularity, rating, not {sort!r}", "sort", sort)
    effective = "popularity" if chosen == "relevance" and not terms else chosen
    fingerprint = _fingerprint(terms, category, tier, min_price, max_price, in_stock)
    (fuzzy, broad), after = decode_cursor(cursor, effective, fingerprint) if cursor else ((False, False), None)
    relevance = effective == "relevance"
    with Session(db.reader(engine)) as s:
        if engine.dialect.name == "postgresql":  # plans for the words at hand, never a generic one (see below)
            s.execute(sql_text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
        stores = _stores(s, in_stock) if in_stock is not None else None
        where = _Filters(category, tier, min_price, max_price, stores)
        words = catalog_text.fuzzy_terms(s, engine, terms) if fuzzy else terms  # a later page of typo-tolerant matches
        if after is None and relevance and words:
            broad = catalog_text.broad(s, engine.dialect.name, words)
        page = [] if words is None else _page(s, engine, words, relevance and not broad, effective, after, limit, where)
        if not page and terms and after is None and not fuzzy:
            typo = where.none() or not catalog_text.matches_any(s, engine.dialect.name, terms)
            respelt = catalog_text.fuzzy_terms(s, engine, terms) if typo else None
            if respelt:
                broad = relevance and catalog_text.broad(s, engine.dialect.name, respelt)
                page = _page(s, engine, respelt, relevance and not broad, effective, after, limit, where)
            fuzzy = bool(page)
    more = len(page) > limit
    page = page[:limit]
    items = [_hit(row, stores is not None) for row in page]
    last = _cursor_values(page[-1], effective) if more else None
    next_cursor = encode_cursor(effective, (fuzzy, broad), fingerprint, last) if last else None
    return ProductPage(items=items, next_cursor=next_cursor, fuzzy=fuzzy)


@dataclass(frozen=True)
class _Filters:
    category: str | None
    tier: str | None
    min_price: float | None
    max_price: float | None
    stores: list[str] | None

    def none(self) -> bool:
        return all(v is None for v in (self.category, self.tier, self.min_price, self.max_price, self.stores))


def _page(
    s: Session,
    engine: Engine,
    terms: list[str],
    scored: bool,
    sort: str,
    after: list[Any] | None,
    limit: int,
    where: _Filters,
) -> list[Any]:
    """`limit + 1` rows (one more says whether there is a next page) after the cursor's row."""
    dialect = engine.dialect.name
    score: Any = None
    params: dict[str, Any] = {}
    query = select(*COLUMNS)
    if terms and scored:
        matches, params = catalog_text.scores(dialect, terms)
        rid = literal_column("products.rowid") if dialect == "sqlite" else Product.product_id
        score = matches.c.score
        query = query.join(matches, matches.c.rid == rid)
    elif terms:  # a plain condition: the planner may walk a sort's index and stop at the page's end
        query = query.where(catalog_text.matching(dialect, terms))
    query = query.add_columns((literal_column("0") if score is None else score).label("score"))
    if where.stores is not None:
        available = (
            select(func.coalesce(func.sum(Inventory.on_hand - Inventory.reserved), 0))
            .where(Inventory.product_id == Product.product_id, Inventory.store_id.in_(where.stores))
            .scalar_subquery()
        )
        query = query.add_columns(available.label("available")).where(available > 0)
    if where.category is not None:
        query = query.where(func.lower(Product.category) == where.category.strip().lower())
    if where.tier is not None:
        query = query.where(Product.tier == where.tier)
    if where.min_price is not None:
        query = query.where(Product.price_cents >= round(where.min_price * 100))
    if where.max_price is not None:
        query = query.where(Product.price_cents <= round(where.max_price * 100))
    keys = _keys(sort, score)
    if after is not None:  # a relevance cursor holds a score even where there is none (always 0)
        query = query.where(_after(keys, after[1:] if sort == "relevance" and score is None else after))
    query = query.order_by(*(k.expr.desc() if k.desc else k.expr.asc() for k in keys)).limit(limit + 1)
    return list(s.execute(query, params).all())


def _hit(row: Any, with_stock: bool) -> ProductHit:
    return ProductHit(
        product_id=row.product_id,
        name=row.name,
        brand=row.brand,
        category=row.category,
        tier=row.tier,
        price=money(row.price_cents),
        rating_average=round(row.rating_sum / row.rating_count, 2) if row.rating_count else None,
        rating_count=row.rating_count,
        popularity=row.sold_units,
        available=int(row.available) if with_stock else None,
    )


def reindex(engine: Engine) -> None:
    """Rebuild SQLite's full-text index from `products` (after a VACUUM or a table rebuild renumbered its rowids);
    PostgreSQL keeps its index itself."""
    if engine.dialect.name == "sqlite":
        with engine.begin() as c:
            c.exec_driver_sql("INSERT INTO products_fts(products_fts) VALUES ('rebuild')")
