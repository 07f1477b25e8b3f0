"""The customer 360 profile and a customer's offers under `/v1`: one answer composed from independent sections.

Each section is filled on its own from the public functions of the code that serves the same data: the commerce
domain's queries (`serving.commerce.customers`, `loyalty`) and the model endpoints' plain functions
(`serving.endpoints.churn.score`, `serving.endpoints.recommender.look_up` and `score`), so a profile answers what
those endpoints answer. A missing model or a section that fails leaves that section empty with a line in `notes`,
never a failed profile; a profile costs a handful of indexed queries and this customer's online features.

Who may call (API keys, see `serving.auth`): a customer's profile: admin, ops, sales_rep, marketing, customer (its
own); a customer's offers and points: admin, ops, marketing, customer (its own). Inside them each section follows
`SECTIONS`: a role sees a section only if it may call the endpoint that serves that data on its own, so no role
reads through the profile what that endpoint refuses it; refused sections are never read (`null`, with the reason
in `notes`). Why a model section is empty is said in full to operator keys (admin, ops) only; other keys get a
neutral note ("churn score unavailable") and the reason goes to the log, so a load error never reaches a customer.

The runtime (the Bento's loaded models, feature store and stock) is optional: an app composed without one (the
order API with this router, in tests) answers profiles without the model sections, each with a note.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any, NamedTuple, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from sqlalchemy import Engine

from serving.auth import Caller, check_customer, require
from serving.commerce import customers, loyalty
from serving.commerce.api import CUSTOMER_DATA_ROLES, documented, domain_errors
from serving.commerce.feedback import FeedbackOut
from serving.commerce.feedback_api import READ_FEEDBACK
from serving.commerce.payloads import ID_PATTERN, OrderOut
from serving.deps import database
from serving.endpoints import churn, recommender
from serving.endpoints.profile_payloads import (
    ChurnOut,
    Offer,
    OfferKind,
    OffersOut,
    OrderSummary,
    ProfileOut,
    Recommendations,
)
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
OFFER_ROLES = ("admin", "ops", "marketing", "customer")
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
NEUTRAL = {"churn": "churn score unavailable", "recommendations": "recommendations unavailable"}


def refused(role: str) -> dict[str, str]:
    """The sections `role` may not see, each with the note that says so."""
    return {
        name: f"not shown to {role} keys ({section.endpoint} refuses them)"
        for name, section in SECTIONS.items()
        if role not in section.roles
    }


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


def _models(rt: Runtime | None) -> Runtime:
    """The runtime when its models are in, or `Unavailable` saying why they are not."""
    if rt is None:
        raise Unavailable("no models in this process (the order API runs without the model service)")
    if not rt.ready.is_set():
        if rt.load_error:
            raise Unavailable(rt.load_error, public=False)
        raise Unavailable("models and features are still loading")
    return rt


def _family(call: Callable[..., T], *args: Any) -> T:
    """A model endpoint's plain function; its 503 (a missing version, why the model could not load) is `Unavailable`
    in the runtime's words."""
    try:
        return call(*args)
    except HTTPException as exc:
        raise Unavailable(str(exc.detail), public=False) from None


def loyalty_summary(engine: Engine, customer_id: str) -> dict[str, Any]:
    """The loyalty summary as /loyalty answers it, with the newest ledger entries only (the whole ledger is its)."""
    found: dict[str, Any] = loyalty.summary(engine, customer_id).model_dump(mode="json")
    if isinstance(found.get("entries"), list):
        found["entries"] = found["entries"][:RECENT_LEDGER]
    return found


def churn_section(rt: Runtime | None, engine: Engine, customer_id: str) -> ChurnOut:
    """The customer's churn score as `POST /churn` answers it."""
    answer = _family(churn.score, _models(rt), engine, churn.ChurnRequest(customer_ids=[customer_id]))
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
    models = _models(rt)
    asked = {
        mode: recommender.RecommendRequest(customer_id=customer_id, store_id=store_id, mode=mode, k=OFFERS_PER_MODE)
        for mode in MODES
    }
    try:
        found = _family(recommender.look_up, models, asked["cross_sell"])  # cross-sell: with the products bought
    except KeyError:  # a store the stock does not track: offer what is in stock online
        notes.lines.append(f"recommendations: store {store_id!r} has no stock data; in stock online instead")
        store_id = None
        asked = {mode: request.model_copy(update={"store_id": None}) for mode, request in asked.items()}
        found = _family(recommender.look_up, models, asked["cross_sell"])
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


def offers(
    engine: Engine,
    rt: Runtime | None,
    customer_id: str,
    refused: Mapping[str, str] | None = None,
    detailed: bool = True,
) -> OffersOut:
    """A customer's current offers (in stock online) and points balance; `NotFound` for an unknown customer.

    `refused` as for `profile`: the points are the loyalty section, the offers the recommendations section.
    """
    refused = refused or {}
    customers.customer(engine, customer_id)
    notes = Notes(detailed)
    points = None
    if "loyalty" in refused:
        notes.lines.append(f"points: {refused['loyalty']}")
    else:
        points = notes.fill("points", loyalty_summary, engine, customer_id, default=None)
    found = None
    if "recommendations" in refused:
        notes.lines.append(f"offers: {refused['recommendations']}")
    else:
        found = notes.fill("offers", recommendations, rt, customer_id, None, notes, default=None)
    balance = points.get("balance") if points else None
    return OffersOut(
        customer_id=customer_id, points=int(balance) if balance is not None else None, offers=found, notes=notes.lines
    )


# --- routes ------------------------------------------------------------------------------------------------------

Db = Annotated[Engine, Depends(database)]
CustomerIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["C00001"])]


def _doc() -> dict[int | str, dict[str, Any]]:
    return documented(404, 422, s404="The customer (or, as a filter, the product) named does not exist.")


def _runtime(request: Request) -> Runtime | None:
    """The Bento's runtime (loaded models, feature store, stock), or None in an app composed without one."""
    return getattr(request.app.state, "runtime", None)


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
        return profile(engine, _runtime(request), customer_id, refused(caller.role), caller.role in OPERATORS)


@router.get("/customers/{customer_id}/offers", response_model=OffersOut, responses=_doc())
def customer_offers(
    customer_id: CustomerIdPath,
    request: Request,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*OFFER_ROLES))],
) -> OffersOut:
    """A customer's current offers (top cross-sell and up-sell items in stock online, with reasons) and their
    points balance; either is empty with a note when its model or module is missing. Roles: admin, ops,
    marketing, customer (its own); the points are `null` with a note for marketing keys, which
    `/v1/customers/{id}/loyalty` refuses."""
    check_customer(caller, customer_id)
    with domain_errors():
        return offers(engine, _runtime(request), customer_id, refused(caller.role), caller.role in OPERATORS)
