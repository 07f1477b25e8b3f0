"""Feedback, the customer 360 profile and a customer's offers under `/v1`: thin handlers over `feedback` and
`profile`.

Who may do what (API keys, see `serving.auth`):

- leave feedback: admin, ops, sales_rep, store, customer (for itself);
- read feedback: admin, ops, sales_rep, marketing;
- a customer's profile: admin, ops, sales_rep, marketing, customer (its own);
- a customer's offers and points: admin, ops, marketing, customer (its own).

Inside the profile and the offers, each section follows `SECTIONS`: a role sees a section only if it may call the
endpoint that serves that data on its own, so no role reads through the profile what that endpoint refuses it.
Why a model section is empty is said in full to operator keys (admin, ops) only.

Model-backed parts use the Bento's runtime (`app.state.runtime`) when there is one; the order API run on its own
stores feedback unscored and answers profiles without the model sections (each with a note).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from serving.auth import Caller, check_customer, require
from serving.commerce import feedback, profile
from serving.commerce.api import CUSTOMER_DATA_ROLES, documented, domain_errors
from serving.commerce.deps import features_changed
from serving.commerce.feedback import FeedbackIn, FeedbackOut, Sentiment, Sort
from serving.commerce.payloads import ID_PATTERN, DateTimeIn, Id
from serving.commerce.profile_payloads import OffersOut, ProfileOut
from serving.deps import database

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["customers"])

WRITE_FEEDBACK = ("admin", "ops", "sales_rep", "store", "customer")
READ_FEEDBACK = ("admin", "ops", "sales_rep", "marketing")
PROFILE_ROLES = ("admin", "ops", "sales_rep", "marketing", "customer")
OFFER_ROLES = ("admin", "ops", "marketing", "customer")
OPERATORS = ("admin", "ops")  # read why a model section is empty in full (a load error, a missing version)
# the roles of POST /churn and POST /recommend (serving.endpoints.churn / .recommender); a test holds them equal
CHURN_ROLES = ("admin", "ops", "marketing", "sales_rep", "app")
RECOMMEND_ROLES = ("admin", "ops", "marketing", "sales_rep", "store", "app", "customer")


class Section(NamedTuple):
    endpoint: str  # the endpoint that serves this data on its own
    roles: tuple[str, ...]  # exactly its roles


# profile section -> the endpoint of the same data and its roles (the offers' points are `loyalty`, its offers
# `recommendations`); the customer record itself is shown to every role that may read the profile
SECTIONS: dict[str, Section] = {
    "orders": Section("GET /v1/customers/{id}/orders", CUSTOMER_DATA_ROLES),
    "open_orders": Section("GET /v1/customers/{id}/orders", CUSTOMER_DATA_ROLES),
    "loyalty": Section("GET /v1/customers/{id}/loyalty", CUSTOMER_DATA_ROLES),
    "churn": Section("POST /churn", CHURN_ROLES),
    "feedback": Section("GET /v1/feedback", READ_FEEDBACK),
    "recommendations": Section("POST /recommend", RECOMMEND_ROLES),
}


def refused(role: str) -> dict[str, str]:
    """The sections `role` may not see, each with the note that says so."""
    return {
        name: f"not shown to {role} keys ({section.endpoint} refuses them)"
        for name, section in SECTIONS.items()
        if role not in section.roles
    }


Db = Annotated[Engine, Depends(database)]
CustomerIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["C00001"])]


def _doc(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    text = {"s404": "The customer (or, as a filter, the product) named does not exist."} | descriptions
    return documented(*codes, **text)


def _runtime(request: Request) -> Any:
    """The Bento's runtime (loaded models, feature store, stock), or None when the order API runs alone."""
    return getattr(request.app.state, "runtime", None)


def _scorer(request: Request) -> feedback.Scorer | None:
    """The sentiment champion when one is loaded and ready, through the Bento's batcher when there is one, else
    in process behind the bounded pool; None stores feedback unscored."""
    try:
        adapter = profile.adapter_or_none(_runtime(request), "sentiment")
    except Exception:
        log.exception("looking up the sentiment model failed; feedback is stored unscored")
        return None
    if adapter is None:
        return None
    remote = getattr(request.app.state, "batchers", {}).get("sentiment")
    return feedback.Batched(adapter, remote) if remote is not None else feedback.InProcess(adapter)


@router.post(
    "/feedback",
    status_code=201,
    response_model=FeedbackOut,
    responses=_doc(
        422,
        s422="Malformed, or well-formed but naming a customer, order or product that does not exist, or an order of "
        "another customer: the detail names the field and value.",
    ),
)
def post_feedback(
    body: FeedbackIn,
    request: Request,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*WRITE_FEEDBACK))],
) -> FeedbackOut:
    """Store feedback and score its sentiment at once with the sentiment champion (through its batcher); without
    one (or if it fails or stays busy) it is stored unscored and `retail feedback score` scores it later. An
    unknown customer, order or product, or an order of another customer, is a 422 naming the field, and costs
    no model call. Roles: admin, ops, sales_rep, store, customer (for itself)."""
    check_customer(caller, body.customer_id)
    with domain_errors():
        stored = feedback.create(engine, body, _scorer(request))
    if stored.score is not None:  # the customer's sentiment features move
        features_changed(request)(stored.customer_id, "feedback")
    return stored


class FeedbackQuery(BaseModel):
    """The filters of `GET /v1/feedback`; an unknown query parameter is a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")

    product_id: Id | None = None
    customer_id: Id | None = None
    sentiment: Sentiment | None = Field(None, description="Only scored feedback with this label.")
    since: DateTimeIn | None = Field(None, description="Only feedback from this time on (UTC without an offset).")
    sort: Sort = Field("newest", description="newest; or priority: negative first, highest-spending customers first.")
    limit: int = Field(100, ge=1, le=500, description="At most this many.")


@router.get("/feedback", response_model=list[FeedbackOut], responses=_doc(404, 422))
def get_feedback(
    engine: Db,
    _caller: Annotated[Caller, Depends(require(*READ_FEEDBACK))],
    query: Annotated[FeedbackQuery, Query()],
) -> list[FeedbackOut]:
    """Feedback for customer service, filtered by product, customer, sentiment and time; newest first, or with
    `sort=priority` negative feedback first (then unscored, then positive), high-value customers first within
    each. An unknown customer or product to filter on is a 404. Roles: admin, ops, sales_rep, marketing."""
    with domain_errors():
        return feedback.list_feedback(
            engine, query.product_id, query.customer_id, query.sentiment, query.since, query.sort, query.limit
        )


@router.get("/customers/{customer_id}/profile", response_model=ProfileOut, responses=_doc(404, 422))
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
        return profile.profile(engine, _runtime(request), customer_id, refused(caller.role), caller.role in OPERATORS)


@router.get("/customers/{customer_id}/offers", response_model=OffersOut, responses=_doc(404, 422))
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
        return profile.offers(engine, _runtime(request), customer_id, refused(caller.role), caller.role in OPERATORS)
