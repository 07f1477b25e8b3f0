"""The product pages' database parts: one product, a comparison of 2 to 5, and a product's upgrades.

Each answer costs a handful of indexed queries. Suggestions and review sentiment need the models and the online
store: `serving.endpoints.products` adds them on top of these answers (the order API alone answers without them).
Upgrades are the higher tiers (good < better < best) of the same need: the same category and, where the product has
a `type` specification (the simulator's noun: "kettle"), the same type.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from serving.commerce.errors import Invalid, NotFound
from serving.commerce.payloads import ID_PATTERN, money
from serving.commerce.product_payloads import (
    Added,
    Availability,
    CompareOut,
    CompareProduct,
    CompareRow,
    ProductOut,
    Rating,
    Sentiment,
    Spec,
    StoreStock,
    Upgrade,
    UpgradesOut,
)
from serving.commerce.tables import Feedback, Inventory, Product, ProductAttribute, Store

log = logging.getLogger(__name__)

TIERS = ("good", "better", "best")
KIND = "type"  # the specification that names what a product is, for "the same need"
MIN_COMPARE, MAX_COMPARE = 2, 5
MAX_IDS_CHARS = MAX_COMPARE * 65  # five ids of 64 characters and their commas
_ID = re.compile(ID_PATTERN)


def parse_ids(text: str) -> list[str]:
    """`P1,P2` -> ["P1", "P2"]: 2 to 5 distinct ids (spaces around commas allowed), else `Invalid` naming `ids`."""
    ids = [part.strip() for part in text.split(",")]
    ok = all(0 < len(i) <= 64 and _ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    if not ok or not MIN_COMPARE <= len(ids) <= MAX_COMPARE:
        raise Invalid(
            f"ids: expected {MIN_COMPARE} to {MAX_COMPARE} distinct product ids separated by commas, got {text!r}",
            "ids",
            text,
        )
    return ids


def _products(s: Session, ids: Iterable[str], field: str) -> dict[str, Product]:
    wanted = list(dict.fromkeys(ids))
    found = {p.product_id: p for p in s.scalars(select(Product).where(Product.product_id.in_(wanted)))}
    for product_id in wanted:
        if product_id not in found:
            raise NotFound(f"{field}: unknown product {product_id!r}", field, product_id)
    return found


def _check_store(s: Session, store_id: str | None) -> None:
    if store_id is not None and s.get(Store, store_id) is None:
        raise Invalid(f"store_id: unknown store {store_id!r}", "store_id", store_id)


def _specs(s: Session, ids: Iterable[str]) -> dict[str, list[Spec]]:
    """Each product's specifications in position order (then by name)."""
    rows = s.execute(
        select(ProductAttribute.product_id, ProductAttribute.name, ProductAttribute.value)
        .where(ProductAttribute.product_id.in_(list(ids)))
        .order_by(ProductAttribute.product_id, ProductAttribute.position, ProductAttribute.name)
    )
    found: dict[str, list[Spec]] = {}
    for product_id, name, value in rows:
        found.setdefault(product_id, []).append(Spec(name=name, value=value))
    return found


def _stock(s: Session, ids: Iterable[str], store_id: str | None) -> dict[str, Availability]:
    """Available units per store and online for each product (products without stock rows: none anywhere)."""
    rows = s.execute(
        select(Inventory.product_id, Store.store_id, Store.name, Store.kind, Inventory.on_hand - Inventory.reserved)
        .join(Store, Store.store_id == Inventory.store_id)
        .where(Inventory.product_id.in_(list(ids)))
        .order_by(Inventory.product_id, Store.kind, Store.store_id)
    )
    stores: dict[str, list[StoreStock]] = {}
    for product_id, sid, name, kind, available in rows:
        stores.setdefault(product_id, []).append(
            StoreStock(store_id=sid, name=name, kind=kind, available=max(int(available), 0))
        )
    out = {}
    for product_id in ids:
        found = stores.get(product_id, [])
        at = None if store_id is None else sum(x.available for x in found if x.store_id == store_id)
        online = sum(x.available for x in found if x.kind == "online")
        out[product_id] = Availability(online=online, stores=found, store_id=store_id, at_store=at)
    return out


def rating(product: Product) -> Rating:
    count = product.rating_count or 0
    return Rating(count=count, average=round(product.rating_sum / count, 2) if count else None)


def feedback_sentiment(s: Session, ids: Iterable[str]) -> dict[str, Sentiment]:
    """Per product: its scored feedback (label and P(positive) from the sentiment model) rolled up."""
    negative = func.sum(case((Feedback.label == "negative", 1), else_=0))
    rows = s.execute(
        select(Feedback.product_id, func.count(), func.avg(Feedback.score), negative)
        .where(Feedback.product_id.in_(list(ids)), Feedback.label.is_not(None), Feedback.score.is_not(None))
        .group_by(Feedback.product_id)
    )
    return {
        p: Sentiment(source="feedback", count=n, mean_score=round(float(mean), 4), negative_share=round(neg / n, 4))
        for p, n, mean, neg in rows
    }


def check(engine: Engine, product_id: str, store_id: str | None = None) -> None:
    """`NotFound` for an unknown product, `Invalid` for an unknown store; nothing else."""
    with Session(engine) as s:
        _products(s, [product_id], "product_id")
        _check_store(s, store_id)


def detail(engine: Engine, product_id: str, store_id: str | None = None) -> ProductOut:
    """One product as its page shows it, without suggestions (`complements`, `upgrades` empty).

    Raises `NotFound` (404) for an unknown product and `Invalid` (422) for an unknown `store_id`.
    """
    with Session(engine) as s:
        product = _products(s, [product_id], "product_id")[product_id]
        _check_store(s, store_id)
        sentiment = feedback_sentiment(s, [product_id]).get(product_id)
        notes = [] if sentiment else ["sentiment: no scored feedback on this product yet"]
        return ProductOut(
            product_id=product.product_id,
            name=product.name,
            category=product.category,
            brand=product.brand,
            tier=product.tier,
            description=product.description,
            price=money(product.price_cents),
            specifications=_specs(s, [product_id]).get(product_id, []),
            availability=_stock(s, [product_id], store_id)[product_id],
            rating=rating(product),
            sold_units=product.sold_units or 0,
            sentiment=sentiment,
            complements=[],
            upgrades=[],
            model_version=None,
            notes=notes,
        )


def aligned(specs: list[list[Spec]]) -> list[CompareRow]:
    """One row per specification name of any product (first seen first), values aligned; `differs` when any two
    products' values (a missing one included) are not the same."""
    names = list(dict.fromkeys(spec.name for product in specs for spec in product))
    values = [{spec.name: spec.value for spec in product} for product in specs]
    rows = []
    for name in names:
        row = [v.get(name) for v in values]
        rows.append(CompareRow(name=name, values=row, differs=len(set(row)) > 1))
    return rows


def compare(engine: Engine, ids: list[str], store_id: str | None = None) -> CompareOut:
    """Products side by side in the order asked; `NotFound` names the first unknown id (field `ids`)."""
    with Session(engine) as s:
        found = _products(s, ids, "ids")
        _check_store(s, store_id)
        specs, stock = _specs(s, ids), _stock(s, ids, store_id)
        sentiment = feedback_sentiment(s, ids)
    first = found[ids[0]].price_cents
    products = [
        CompareProduct(
            product_id=p,
            name=found[p].name,
            category=found[p].category,
            brand=found[p].brand,
            tier=found[p].tier,
            price=money(found[p].price_cents),
            price_difference=money(found[p].price_cents - first),
            rating=rating(found[p]),
            sentiment=sentiment.get(p),
            available_online=stock[p].online,
            available_at_store=stock[p].at_store,
        )
        for p in ids
    ]
    notes = [] if sentiment else ["sentiment: no scored feedback on these products yet"]
    return CompareOut(
        store_id=store_id, products=products, specifications=aligned([specs.get(p, []) for p in ids]), notes=notes
    )


def _adds(product: list[Spec], upgrade: list[Spec]) -> list[Added]:
    had = {spec.name: spec.value for spec in product}
    return [Added(name=x.name, value=x.value, was=had.get(x.name)) for x in upgrade if had.get(x.name) != x.value]


def _kind(specs: list[Spec]) -> str | None:
    return next((spec.value for spec in specs if spec.name == KIND), None)


def _candidates(
    s: Session, product: Product, kind: str | None, store_id: str | None, limit: int, ranked: Iterable[str]
) -> list[Product]:
    """Higher tiers of the same category (and type), in stock at `store_id` when given: the `limit` cheapest of each
    tier (one query per tier, walking the price index) and the `ranked` ones among them."""
    assert product.tier in TIERS
    query = select(Product).where(Product.category == product.category, Product.product_id != product.product_id)
    if kind is not None:
        query = query.join(
            ProductAttribute,
            (ProductAttribute.product_id == Product.product_id)
            & (ProductAttribute.name == KIND)
            & (ProductAttribute.value == kind),
        )
    if store_id is not None:
        query = query.join(
            Inventory, (Inventory.product_id == Product.product_id) & (Inventory.store_id == store_id)
        ).where(Inventory.on_hand - Inventory.reserved > 0)
    higher = TIERS[TIERS.index(product.tier) + 1 :]
    found: dict[str, Product] = {}
    for tier in higher:
        cheapest = query.where(Product.tier == tier).order_by(Product.price_cents, Product.product_id).limit(limit)
        found |= {p.product_id: p for p in s.scalars(cheapest)}
    wanted = [p for p in ranked if p not in found]
    if wanted:
        found |= {
            p.product_id: p for p in s.scalars(query.where(Product.tier.in_(higher), Product.product_id.in_(wanted)))
        }
    return list(found.values())


def upgrades(
    engine: Engine,
    product_id: str,
    store_id: str | None = None,
    ranked: Mapping[str, tuple[int, str]] | None = None,
    limit: int = 10,
    model_version: str | None = None,
) -> UpgradesOut:
    """The higher tiers of the product's need, each with what it adds and costs; by tier, then price.

    `ranked`: the recommender's up-sell ranking (product id -> (rank, reason)); within a tier its ranked products
    come first, in its order, with its reasons. Raises `NotFound` / `Invalid` as `detail` does.
    """
    with Session(engine) as s:
        product = _products(s, [product_id], "product_id")[product_id]
        _check_store(s, store_id)
        own = _specs(s, [product_id]).get(product_id, [])
        kind = _kind(own)
        base: dict[str, Any] = {"product_id": product_id, "tier": product.tier, "store_id": store_id}
        base |= {"price": money(product.price_cents), "model_version": model_version if ranked is not None else None}
        base |= {"ranked_by": "recommender" if ranked is not None else "catalogue"}
        if product.tier not in TIERS or not product.category:
            missing = "tier" if product.tier not in TIERS else "category"
            return UpgradesOut(**base, items=[], note=f"the product has no {missing}, so no higher tier of its need")
        found = _candidates(s, product, kind, store_id, limit, list(ranked or {}))
        ids = [p.product_id for p in found]
        specs, stock = _specs(s, ids), _stock(s, ids, store_id)
    ranked = ranked or {}
    need = f"{kind} in {product.category}" if kind else product.category

    def order(p: Product) -> tuple[int, float, int, str]:
        return (TIERS.index(p.tier or ""), ranked.get(p.product_id, (float("inf"), ""))[0], p.price_cents, p.product_id)

    items = [
        Upgrade(
            product_id=p.product_id,
            name=p.name,
            brand=p.brand,
            tier=p.tier or "",
            price=money(p.price_cents),
            extra_cost=money(p.price_cents - product.price_cents),
            rating=rating(p),
            available_online=stock[p.product_id].online,
            available_at_store=stock[p.product_id].at_store,
            adds=_adds(own, specs.get(p.product_id, [])),
            reason=ranked[p.product_id][1] if p.product_id in ranked else f"the {p.tier} tier of {need}",
        )
        for p in sorted(found, key=order)[:limit]
    ]
    if base["ranked_by"] == "recommender":
        note = "by tier, then the recommender's up-sell ranking, then price"
    else:
        note = "by tier, then price (catalogue rule: no recommender ranking)"
    if not items:
        note = f"no higher tier of {need}" + (f" in stock at {store_id}" if store_id else "")
    return UpgradesOut(**base, items=items, note=note)
