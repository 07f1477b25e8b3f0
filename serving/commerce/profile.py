"""The customer 360 profile and a customer's offers: one answer assembled from independent sections.

Each section (order summary, open orders, loyalty, churn, feedback, recommendations) is filled on its own; a
missing model or a section that fails leaves that section empty with a line in `notes`, never a failed profile.
Database sections are a handful of indexed queries on the customer's rows; model sections read only this
customer's online features and call the loaded champions, so a profile costs milliseconds.

The runtime (the Bento's loaded models, feature store and stock) is optional: the order API run on its own
has none and answers profiles without the model sections.

Sections the caller's role may not see (`refused`: section -> why, from `customers_api.SECTIONS`) are never
read: they are `null` with that reason in `notes`. Why a model section is empty is said in full to operators
only (`detailed`); other keys get a neutral note ("churn score unavailable") and the reason goes to the log, so a
model's load error never reaches a customer.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from fastapi import HTTPException
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, selectinload

from features import store as feature_store
from retail import db
from serving.commerce import feedback
from serving.commerce.errors import NotFound
from serving.commerce.orders import order_view
from serving.commerce.payloads import OrderOut
from serving.commerce.profile_payloads import (
    ChurnOut,
    CustomerOut,
    Offer,
    OfferKind,
    OffersOut,
    OrderSummary,
    ProfileOut,
    Recommendations,
)
from serving.commerce.tables import Customer, Order, Return, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

NOT_FINAL = ("placed", "paid", "picking", "shipped", "ready_for_pickup")
MODES: tuple[OfferKind, ...] = ("cross_sell", "up_sell")
OFFERS_PER_MODE = 3
RECENT_FEEDBACK = 5
RECENT_LEDGER = 5
OPEN_ORDERS = 20


NEUTRAL = {"churn": "churn score unavailable", "recommendations": "recommendations unavailable"}


class Unavailable(Exception):
    """A section cannot be filled for an expected reason (no model, no features): its message is the note.

    `public`: the message is ours and safe for any caller; otherwise it carries the runtime's own words (a model's
    load error) and only operators read it.
    """

    def __init__(self, message: str, public: bool = True) -> None:
        super().__init__(message)
        self.public = public


class Notes:
    """Collects why sections are empty; `fill` runs one section and never lets it fail the profile.

    With `detailed` (operator keys) a note says what went wrong; otherwise a failure or a runtime's problem is
    a neutral "<section>: ... unavailable" and the details go to the log.
    """

    def __init__(self, detailed: bool = True) -> None:
        self.lines: list[str] = []
        self.detailed = detailed

    def neutral(self, name: str) -> str:
        return f"{name}: {NEUTRAL.get(name, f'{name} unavailable')}"

    def fill(self, name: str, section: Callable[..., T], *args: Any, default: T) -> T:
        try:
            return section(*args)
        except Unavailable as exc:
            if exc.public or self.detailed:
                self.lines.append(f"{name}: {exc}")
            else:
                log.warning("profile section %s unavailable: %s", name, exc)
                self.lines.append(self.neutral(name))
        except Exception as exc:
            log.exception("profile section %s failed", name)
            detail = f"{name}: failed ({type(exc).__name__}); see the service log"
            self.lines.append(detail if self.detailed else self.neutral(name))
        return default

    def refuse(self, name: str, refused: Mapping[str, str]) -> bool:
        """True (with the reason as a note) when the caller may not see section `name`."""
        if name in refused:
            self.lines.append(f"{name}: {refused[name]}")
            return True
        return False


def _customer(engine: Engine, customer_id: str) -> CustomerOut:
    with Session(db.reader(engine)) as s:
        row = s.get(Customer, customer_id)
        if row is None:
            raise NotFound(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
        return CustomerOut(customer_id=row.customer_id, region=row.region, created_at=row.created_at)


def order_summary(engine: Engine, customer_id: str) -> tuple[OrderSummary, str | None]:
    """The summary and the kind (online | store) of the usual store: two grouped queries on indexed columns."""
    with Session(db.reader(engine)) as s:
        rows = s.execute(
            select(
                Order.channel,
                Order.store_id,
                Store.kind,
                Order.status,
                func.count(),
                func.sum(Order.total_cents),
                func.max(Order.created_at),
            )
            .join(Store, Store.store_id == Order.store_id)
            .where(Order.customer_id == customer_id)
            .group_by(Order.channel, Order.store_id, Store.kind, Order.status)
        ).all()
        refunds = s.scalar(
            select(func.coalesce(func.sum(Return.refund_cents), 0))
            .join(Order, Order.order_id == Return.order_id)
            .where(Order.customer_id == customer_id)
        )
    channels: dict[str, int] = {}
    stores: dict[tuple[str, str], int] = {}
    spent = 0
    for channel, store_id, kind, status, n, cents, _ in rows:
        channels[channel] = channels.get(channel, 0) + n
        stores[(store_id, kind)] = stores.get((store_id, kind), 0) + n
        spent += int(cents or 0) if status in feedback.SPENT else 0
    usual = min(stores, key=lambda key: (-stores[key], key[0])) if stores else None
    summary = OrderSummary(
        orders=sum(channels.values()),
        spend=round((spent - int(refunds or 0)) / 100, 2),
        last_order_at=max((r[6] for r in rows), default=None),
        channels=channels,
        usual_store_id=usual[0] if usual else None,
    )
    return summary, usual[1] if usual else None


def open_orders(engine: Engine, customer_id: str) -> list[OrderOut]:
    with Session(db.reader(engine)) as s:
        query = (
            select(Order)
            .where(Order.customer_id == customer_id, Order.status.in_(NOT_FINAL))
            .order_by(Order.created_at.desc(), Order.order_id)
            .limit(OPEN_ORDERS)
            .options(selectinload(Order.lines), selectinload(Order.history))
        )
        return [order_view(o) for o in s.scalars(query)]


def recent_feedback(engine: Engine, customer_id: str) -> list[feedback.FeedbackOut]:
    with Session(db.reader(engine)) as s:
        return feedback.recent(s, customer_id, RECENT_FEEDBACK)


def loyalty(engine: Engine, customer_id: str) -> dict[str, Any]:
    """The loyalty summary, when this version has the loyalty module (imported lazily: it may be absent)."""
    try:
        module = importlib.import_module("serving.commerce.loyalty")
    except ImportError:
        raise Unavailable("not available in this version of the service") from None
    found: dict[str, Any] = module.summary(engine, customer_id).model_dump(mode="json")
    if isinstance(found.get("entries"), list):
        found["entries"] = found["entries"][:RECENT_LEDGER]  # the newest legs; the whole ledger is /loyalty's
    return found


def _adapter(rt: Any, name: str) -> Any:
    """The runtime's adapter for a family, or `Unavailable` saying why there is none."""
    if rt is None:
        raise Unavailable("no models in this process (the order API runs without the model service)")
    if not rt.ready.is_set():
        if rt.load_error:
            raise Unavailable(rt.load_error, public=False)
        raise Unavailable("models and features are still loading")
    try:
        return rt.adapter(name)
    except HTTPException as exc:  # the runtime's words: a missing version, or why the model could not load
        raise Unavailable(str(exc.detail), public=False) from None


def adapter_or_none(rt: Any, name: str) -> Any:
    """The family's adapter, or None when there is none (for callers that simply do without)."""
    try:
        return _adapter(rt, name)
    except Unavailable:
        return None


def _online(rt: Any, service_name: str, customer_id: str) -> Any:
    """This customer's row of a feature service from the online store (the service object is cached)."""
    service = rt.feature_service(service_name)
    return rt.store.get_online_features(features=service, entity_rows=[{"customer_id": customer_id}])


def churn(rt: Any, customer_id: str) -> ChurnOut:
    adapter = _adapter(rt, "churn")
    frame = _online(rt, adapter.feature_service, customer_id).to_df()
    if not bool(adapter.known(frame).all()):
        raise Unavailable("the feature store has no features for this customer yet (`retail features build`)")
    scored = adapter.score_online(frame)
    drivers = [str(d) for d in scored.filter(like="driver_").iloc[0] if d]
    return ChurnOut(
        model_version=str(adapter.version),
        probability=float(scored["churn_probability"].iloc[0]),
        band=scored["risk_band"].iloc[0],
        drivers=drivers,
    )


def recommendations(rt: Any, customer_id: str, store_id: str | None, notes: Notes) -> Recommendations:
    """Top cross-sell, then up-sell items not already offered, in stock at `store_id` (online when None)."""
    adapter = _adapter(rt, "recommender")
    features = None
    if adapter.knows(customer_id):
        names = list(adapter.feature_names)
        values = _online(rt, adapter.feature_service, customer_id).to_dict()
        features = {name: values[name][0] for name in names}
    try:
        available = rt.stock.available(store_id, adapter.product_ids, adapter.version)
    except KeyError:  # a store the stock does not track: offer what is in stock online
        notes.lines.append(f"recommendations: store {store_id!r} has no stock data; in stock online instead")
        store_id = None
        available = rt.stock.available(None, adapter.product_ids, adapter.version)
    bought = feature_store.products_bought(rt.store, customer_id)  # pushed by orders since the build
    items: list[Offer] = []
    for mode in MODES:
        answer = adapter.recommend(customer_id, [], mode, OFFERS_PER_MODE, available, features, bought)
        if answer.note:
            notes.lines.append(f"recommendations ({mode}): {answer.note}")
        offered = {item.product_id for item in items}
        items += [Offer(kind=mode, **item) for item in answer.items if item["product_id"] not in offered]
    return Recommendations(model_version=str(adapter.version), store_id=store_id, items=items)


def profile(
    engine: Engine, rt: Any, customer_id: str, refused: Mapping[str, str] | None = None, detailed: bool = True
) -> ProfileOut:
    """The whole profile; raises `NotFound` for an unknown customer, and only then.

    `refused`: sections the caller may not see, each with the reason; they are not read and stay `null`. Without
    the order summary the offers are those in stock online (the usual store comes from the orders).
    """
    refused = refused or {}
    customer = _customer(engine, customer_id)
    notes = Notes(detailed)
    empty = OrderSummary(orders=0, spend=0.0, last_order_at=None, channels={}, usual_store_id=None)
    nothing: tuple[OrderSummary, str | None] = (empty, None)
    summary: OrderSummary | None = None
    store_id = None
    if not notes.refuse("orders", refused):
        summary, usual_kind = notes.fill("orders", order_summary, engine, customer_id, default=nothing)
        store_id = summary.usual_store_id if usual_kind == "store" else None  # online shop orders: stock online

    def section(name: str, fill: Callable[..., T], *args: Any, default: T) -> T | None:
        return None if notes.refuse(name, refused) else notes.fill(name, fill, *args, default=default)

    return ProfileOut(
        customer=customer,
        orders=summary,
        open_orders=section("open_orders", open_orders, engine, customer_id, default=list[OrderOut]()),
        loyalty=section("loyalty", loyalty, engine, customer_id, default=None),
        churn=section("churn", churn, rt, customer_id, default=None),
        feedback=section("feedback", recent_feedback, engine, customer_id, default=list[feedback.FeedbackOut]()),
        recommendations=section("recommendations", recommendations, rt, customer_id, store_id, notes, default=None),
        notes=notes.lines,
    )


def offers(
    engine: Engine, rt: Any, customer_id: str, refused: Mapping[str, str] | None = None, detailed: bool = True
) -> OffersOut:
    """A customer's current offers (in stock online) and points balance; `NotFound` for an unknown customer.

    `refused` as for `profile`: the points are the loyalty section, the offers the recommendations section.
    """
    refused = refused or {}
    _customer(engine, customer_id)
    notes = Notes(detailed)
    points = None
    if "loyalty" in refused:
        notes.lines.append(f"points: {refused['loyalty']}")
    else:
        points = notes.fill("points", loyalty, engine, customer_id, default=None)
    found = None
    if "recommendations" in refused:
        notes.lines.append(f"offers: {refused['recommendations']}")
    else:
        found = notes.fill("offers", recommendations, rt, customer_id, None, notes, default=None)
    balance = points.get("balance") if points else None
    return OffersOut(
        customer_id=customer_id, points=int(balance) if balance is not None else None, offers=found, notes=notes.lines
    )
