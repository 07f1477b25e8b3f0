"""The customer 360 profile and a customer's offers under `/v1`: one answer composed from independent sections.

Each section is filled on its own from the public functions of the code that serves the same data: the commerce
domain's queries (`serving.commerce.customers`, `loyalty`) and the model endpoints' plain functions
(`serving.endpoints.churn.score`, `serving.endpoints.recommender.look_up` and `score`), so a profile answers what
those endpoints answer. A missing model or a section that fails leaves that section empty with a line in `notes`,
never a failed profile; a profile costs a handful of indexed queries and this customer's online features.

Who may call (API keys, see `serving.auth`): a customer's profile: admin, ops, sales_rep, marketing, customer (its
own); a customer's offers and points: admin, ops, marketing, sales_rep, store, customer (its own). Inside them each
section follows
`SECTIONS`: a role sees a section only if it may call the endpoint that serves that data on its own, so no role
reads through the profile what that endpoint refuses it; refused sections are never read (`null`, with the reason
in `notes`). Why a model section is empty is said in full to operator keys (admin, ops) only; other keys get a
neutral note ("churn score unavailable") and the reason goes to the log, so a load error never reaches a customer.

The runtime (the Bento's loaded models, feature store and stock) is optional: an app composed without one (the
order API with this router, in tests) answers profiles without the model sections, each with a note.

Offers are priced (`offers`): each recommended product gets the campaign policy's discount (`discounts.decide`,
as `retail campaign build` decides it) for this customer's churn probability and band (`churn.score`) and value
at risk (online feature `spend_<value_window_days>d` * horizon_days / value_window_days), at the product's
current price, under a single-use code `serving.commerce.offers` keeps; see `offers` for what is reused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any, NamedTuple, TypeVar

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy import Engine

from features.catalog import CUSTOMER_WINDOWS
from serving.auth import Caller, check_customer, require
from serving.commerce import customers, events, loyalty
from serving.commerce import offers as offer_codes
from serving.commerce.api import CUSTOMER_DATA_ROLES, documented, domain_errors
from serving.commerce.discounts import CampaignPolicy
from serving.commerce.feedback import FeedbackOut
from serving.commerce.feedback_api import READ_FEEDBACK
from serving.commerce.payloads import ID_PATTERN, OrderOut, money
from serving.deps import database
from serving.endpoints import churn, recommender
from serving.endpoints.profile_payloads import (
    ChurnOut,
    Offer,
    OfferKind,
    OffersOut,
    OrderSummary,
    PricedOffer,
    PricedOffers,
    ProfileOut,
    Recommendations,
)
from serving.endpoints.sections import Notes, Unavailable, family, models_in, request_runtime
from serving.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["customers"])
T = TypeVar("T")

MODES: tuple[OfferKind, ...] = ("cross_sell", "up_sell")
OFFERS_PER_MODE = 3
RECENT_FEEDBACK = 5
RECENT_LEDGER = 5
OPEN_ORDERS = 20

PROFILE_ROLES = ("admin", "ops", "sales_rep", "marketing", "customer")
OFFER_ROLES = ("admin", "ops", "marketing", "sales_rep", "store", "customer")
OPERATORS = ("admin", "ops")  # read why a model section is empty in full (a load error, a missing version)


class Section(NamedTuple):
    endpoint: str  # the endpoint that serves this data on its own
    roles: tuple[str, ...]  # exactly its roles


# profile section -> the endpoint of the same data and its roles (the offers' points are `loyalty`, its offers
# `recommendations`); the customer record itself is shown to every role that may read the profile
SECTIONS: dict[str, Section] = {
    "orders": Section("GET /v1/customers/{id}/orders", CUSTOMER_DATA_ROLES),
    "open_orders": Section("GET /v1/customers/{id}/orders", CUSTOMER_DATA_ROLES),
    "loyalty": Section("GET /v1/customers/{id}/loyalty", CUSTOMER_DATA_ROLES),
    "churn": Section("POST /churn", churn.ROLES),
    "feedback": Section("GET /v1/feedback", READ_FEEDBACK),
    "recommendations": Section("POST /recommend", recommender.ROLES),
}
CUSTOMER_VIEW = "customer_features"  # the online feature view of spend_<window>d


def refused(role: str) -> dict[str, str]:
    """The sections `role` may not see, each with the note that says so."""
    return {
        name: f"not shown to {role} keys ({section.endpoint} refuses them)"
        for name, section in SECTIONS.items()
        if role not in section.roles
    }


def loyalty_summary(engine: Engine, customer_id: str) -> dict[str, Any]:
    """The loyalty summary as /loyalty answers it, with the newest ledger entries only (the whole ledger is its)."""
    found: dict[str, Any] = loyalty.summary(engine, customer_id).model_dump(mode="json")
    if isinstance(found.get("entries"), list):
        found["entries"] = found["entries"][:RECENT_LEDGER]
    return found


def churn_section(rt: Runtime | None, engine: Engine, customer_id: str) -> ChurnOut:
    """The customer's churn score as `POST /churn` answers it."""
    answer = family(churn.score, models_in(rt), engine, churn.ChurnRequest(customer_ids=[customer_id]))
    if not answer.scores:
        raise Unavailable("the feature store has no features for this customer yet (`retail features build`)")
    found = answer.scores[0]
    return ChurnOut(
        model_version=answer.model_version,
        probability=found.churn_probability,
        band=found.risk_band,
        drivers=found.drivers,
    )


def recommendations(rt: Runtime | None, customer_id: str, store_id: str | None, notes: Notes) -> Recommendations:
    """Top cross-sell, then up-sell items not already offered, in stock at `store_id` (online when None), as
    `POST /recommend` ranks them; the customer's features and the stock are read once for both."""
    models = models_in(rt)
    asked = {
        mode: recommender.RecommendRequest(customer_id=customer_id, store_id=store_id, mode=mode, k=OFFERS_PER_MODE)
        for mode in MODES
    }
    try:
        found = family(recommender.look_up, models, asked["cross_sell"])  # cross-sell: with the products bought
    except KeyError:  # a store the stock does not track: offer what is in stock online
        notes.lines.append(f"recommendations: store {store_id!r} has no stock data; in stock online instead")
        store_id = None
        asked = {mode: request.model_copy(update={"store_id": None}) for mode, request in asked.items()}
        found = family(recommender.look_up, models, asked["cross_sell"])
    items: list[Offer] = []
    for mode, request in asked.items():
        answer = recommender.score(models, request, found)
        if answer.note:
            notes.lines.append(f"recommendations ({mode}): {answer.note}")
        offered = {item.product_id for item in items}
        items += [Offer(kind=mode, **item.model_dump()) for item in answer.items if item.product_id not in offered]
    return Recommendations(model_version=str(found.adapter.version), store_id=store_id, items=items)


def profile(
    engine: Engine,
    rt: Runtime | None,
    customer_id: str,
    refused: Mapping[str, str] | None = None,
    detailed: bool = True,
) -> ProfileOut:
    """The whole profile; raises `NotFound` for an unknown customer, and only then.

    `refused`: sections the caller may not see, each with the reason; they are not read and stay `null`. Without
    the order summary the offers are those in stock online (the usual store comes from the orders).
    """
    refused = refused or {}
    customer = customers.customer(engine, customer_id)
    notes = Notes(detailed)
    nothing: tuple[OrderSummary, str | None] = (customers.NO_ORDERS, None)
    summary: OrderSummary | None = None
    store_id = None
    if not notes.refuse("orders", refused):
        summary, usual_kind = notes.fill("orders", customers.order_summary, engine, customer_id, default=nothing)
        store_id = summary.usual_store_id if usual_kind == "store" else None  # online shop orders: stock online

    def section(name: str, fill: Callable[..., T], *args: Any, default: T) -> T | None:
        return None if notes.refuse(name, refused) else notes.fill(name, fill, *args, default=default)

    return ProfileOut(
        customer=customer,
        orders=summary,
        open_orders=section(
            "open_orders", customers.open_orders, engine, customer_id, OPEN_ORDERS, default=list[OrderOut]()
        ),
        loyalty=section("loyalty", loyalty_summary, engine, customer_id, default=None),
        churn=section("churn", churn_section, rt, engine, customer_id, default=None),
        feedback=section(
            "feedback", customers.recent_feedback, engine, customer_id, RECENT_FEEDBACK, default=list[FeedbackOut]()
        ),
        recommendations=section("recommendations", recommendations, rt, customer_id, store_id, notes, default=None),
        notes=notes.lines,
    )


def value_at_risk(rt: Runtime | None, customer_id: str, rules: CampaignPolicy, notes: Notes) -> float:
    """spend in `value_window_days` * horizon_days / value_window_days, as the campaign computes it, from the
    online feature `spend_<window>d`; a window that is no feature window uses the nearest one's spend rate."""
    window = rules.value_window_days
    used = min(CUSTOMER_WINDOWS, key=lambda w: (abs(w - window), -w))
    name = f"spend_{used}d"
    store = models_in(rt).store
    found = store.get_online_features(features=[f"{CUSTOMER_VIEW}:{name}"], entity_rows=[{"customer_id": customer_id}])
    spend = found.to_dict().get(name, [None])[0]
    if spend is None or spend != spend:  # None or NaN: no features for this customer
        raise Unavailable(f"the feature store has no {name} for this customer yet (`retail features build`)")
    if used != window:
        notes.lines.append(f"discounts: value at risk from {name} (value_window_days {window} is not a feature window)")
    return round(float(spend) * rules.horizon_days / used, 2)


def discount_risk(
    rt: Runtime | None, engine: Engine, customer_id: str, rules: CampaignPolicy, notes: Notes
) -> tuple[offer_codes.Risk, str]:
    """What the policy decides on for this customer, and the churn model's version."""
    scored = churn_section(rt, engine, customer_id)
    risk = offer_codes.Risk(scored.probability, scored.band, value_at_risk(rt, customer_id, rules, notes))
    return risk, scored.model_version


def _neutral_reason(item: offer_codes.Priced) -> str:
    """The reason for keys /churn refuses: the policy's rule names the churn band, this does not."""
    if item.code is None:
        return "no personal discount on this product"
    return f"personal offer: {item.discount_pct:g}% off this product"


def _item(item: offer_codes.Priced, shown: Mapping[str, Offer], explain: bool) -> PricedOffer:
    recommended = shown.get(item.product_id)
    return PricedOffer(
        kind=item.kind,  # type: ignore[arg-type]
        product_id=item.product_id,
        name=recommended.name if recommended else (item.name or item.product_id),
        category=recommended.category if recommended else item.category,
        price=money(item.price_cents) if item.price_cents is not None else None,
        score=recommended.score if recommended else None,
        reason=recommended.reason if recommended else None,
        recommended=item.recommended,
        code=item.code,
        discount_pct=item.discount_pct,
        discount_cents=item.discount_cents,
        discount=money(item.discount_cents),
        cap_cents=item.cap_cents,
        max_discount=money(item.cap_cents),
        issued_at=item.issued_at,
        expires_at=item.expires_at,
        discount_reason=item.reason if explain else _neutral_reason(item),
    )


def offers(
    engine: Engine,
    rt: Runtime | None,
    customer_id: str,
    refused: Mapping[str, str] | None = None,
    detailed: bool = True,
    explain: bool = True,
) -> OffersOut:
    """A customer's priced offers (in stock online) and points balance; `NotFound` for an unknown customer.

    `refused` as for `profile`: the points are the loyalty section, the offers the recommendations section. Each
    recommended product gets the policy's discount and a code (`offer_codes.price_offers`: live codes reused,
    new ones only for products without one); without a churn score (no model, no features) nothing new is
    issued and the products are listed without codes, with a `discounts:` note. Live offers the customer holds
    for products no longer recommended are listed after them (`recommended: false`): they stay redeemable until
    they expire. `explain`: the policy's reason as it is (it names the churn band), else a neutral sentence.
    """
    refused = refused or {}
    customers.customer(engine, customer_id)
    notes = Notes(detailed)
    points = None
    if "loyalty" in refused:
        notes.lines.append(f"points: {refused['loyalty']}")
    else:
        points = notes.fill("points", loyalty_summary, engine, customer_id, default=None)
    balance = points.get("balance") if points else None
    priced = None
    if "recommendations" in refused:
        notes.lines.append(f"offers: {refused['recommendations']}")
    else:
        priced = priced_offers(engine, rt, customer_id, notes, explain)
    return OffersOut(
        customer_id=customer_id, points=int(balance) if balance is not None else None, offers=priced, notes=notes.lines
    )


def priced_offers(
    engine: Engine, rt: Runtime | None, customer_id: str, notes: Notes, explain: bool
) -> PricedOffers | None:
    """The recommended products with their discounts and codes, and the other live offers held; None: neither."""
    found = notes.fill("offers", recommendations, rt, customer_id, None, notes, default=None)
    rules = notes.fill("discounts", offer_codes.policy, default=None)
    recommended = found.items if found is not None else []
    decided: tuple[offer_codes.Risk, str] | None = None
    if rules is not None and recommended:
        decided = notes.fill("discounts", discount_risk, rt, engine, customer_id, rules, notes, default=None)
    risk, churn_version = decided if decided is not None else (None, None)
    version = found.model_version if found is not None else None
    wanted = [offer_codes.Wanted(i.product_id, i.kind, version) for i in recommended]
    items = offer_codes.price_offers(engine, customer_id, wanted, risk, events.now(), rules or CampaignPolicy())
    if found is None and not items:
        return None
    shown = {i.product_id: i for i in recommended}
    return PricedOffers(
        model_version=version,
        store_id=None,
        churn_model_version=churn_version,
        items=[_item(item, shown, explain) for item in items],
    )


# --- routes ------------------------------------------------------------------------------------------------------

Db = Annotated[Engine, Depends(database)]
CustomerIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["C00001"])]


def _doc() -> dict[int | str, dict[str, Any]]:
    return documented(404, 422, s404="The customer (or, as a filter, the product) named does not exist.")


@router.get("/customers/{customer_id}/profile", response_model=ProfileOut, responses=_doc())
def customer_profile(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*PROFILE_ROLES))],
) -> ProfileOut:
    """The customer 360 profile in one call: the customer, order summary, open orders, loyalty, churn risk
    with drivers, recent feedback with sentiment, and top cross-sell and up-sell items in stock at their usual
    store. A missing model or a failing section leaves that section empty with a line in `notes`; only an
    unknown customer fails (404). Roles: admin, ops, sales_rep, marketing, customer (its own); a section whose
    own endpoint refuses the role (orders and loyalty: marketing; churn and feedback: customer) is `null` with a
    note."""
    check_customer(caller, customer_id)
    with domain_errors():
        return profile(engine, request_runtime(request), customer_id, refused(caller.role), caller.role in OPERATORS)


@router.get("/customers/{customer_id}/offers", response_model=OffersOut, responses=_doc())
def customer_offers(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*OFFER_ROLES))],
) -> OffersOut:
    """A customer's personal offers: the top cross-sell and up-sell items in stock online, each with its discount
    from the campaign policy (the rule `retail campaign build` applies, for this customer's churn risk and value
    at risk, at today's price) under a single-use code bound to the customer that expires RETAIL_OFFER_DAYS
    (14) after issue; then the live offers the customer still holds for products no longer recommended. Repeated
    calls answer the same codes: a product gets a new code only when it has no unexpired offer. A product the
    policy gives no discount has `code: null` and the reason; without a churn score nothing new is issued (a
    `discounts:` note says why). Also the points balance.

    Roles: admin, ops, marketing, sales_rep, store, customer (its own: 403 for another's). Points are `null`
    with a note for marketing and store keys, which `/v1/customers/{id}/loyalty` refuses; customer and store
    keys, which `/churn` refuses, get a neutral `discount_reason` instead of the rule (it names the risk band).
    404: unknown customer; 422: malformed customer id."""
    check_customer(caller, customer_id)
    with domain_errors():
        return offers(
            engine,
            request_runtime(request),
            customer_id,
            refused(caller.role),
            caller.role in OPERATORS,
            caller.role in churn.ROLES,
        )
