"""Customers' feedback under `/v1`: thin handlers over `feedback`. (A customer's profile and offers are an
endpoint module of their own, `serving.endpoints.profile`, composed from this domain's functions and the models'.)

Who may do what (API keys, see `serving.auth`):

- leave feedback: admin, ops, sales_rep, store, customer (for itself);
- read feedback: admin, ops, sales_rep, marketing;
- resolve feedback (customer service): admin, ops, sales_rep.

Feedback is scored with the Bento's sentiment champion (`app.state.runtime`) when there is one; the order API run
on its own stores feedback unscored.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail import db
from serving.auth import Caller, check_customer, key_label, require
from serving.commerce import feedback, feedback_resolution
from serving.commerce.api import documented, domain_errors
from serving.commerce.deps import features_changed
from serving.commerce.feedback import FeedbackIn, FeedbackOut, Sentiment, Sort, Status
from serving.commerce.feedback_resolution import ResolveIn
from serving.commerce.payloads import DateTimeIn, Id
from serving.deps import database
from serving.runtime import Runtime, adapter_or_none
from training.sentiment.adapter import KEY as SENTIMENT

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["customers"])

WRITE_FEEDBACK = ("admin", "ops", "sales_rep", "store", "customer")
READ_FEEDBACK = ("admin", "ops", "sales_rep", "marketing")
RESOLVE_FEEDBACK = ("admin", "ops", "sales_rep")  # customer service; marketing reads, never resolves
MAX_ID = 2**31 - 1

Db = Annotated[Engine, Depends(database)]


def _doc(*codes: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    text = {"s404": "The customer (or, as a filter, the product) named does not exist."} | descriptions
    return documented(*codes, **text)


def _runtime(request: Request) -> Runtime | None:
    """The Bento's runtime (loaded models, feature store, stock), or None when the order API runs alone."""
    return getattr(request.app.state, "runtime", None)


def _scorer(request: Request) -> feedback.Scorer | None:
    """The sentiment champion when one is loaded and ready, through the Bento's batcher when there is one, else
    in process behind the bounded pool; None stores feedback unscored."""
    try:
        adapter = adapter_or_none(_runtime(request), SENTIMENT)
    except Exception:
        log.exception("looking up the sentiment model failed; feedback is stored unscored")
        return None
    if adapter is None:
        return None
    remote = getattr(request.app.state, "batchers", {}).get(SENTIMENT.name)
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
    rating: int | None = Field(None, ge=1, le=5, description="Only feedback with these stars.")
    since: DateTimeIn | None = Field(None, description="Only feedback from this time on (UTC without an offset).")
    until: DateTimeIn | None = Field(None, description="Only feedback from before this time (UTC without an offset).")
    status: Status = Field("all", description="open (not resolved yet), resolved, or all.")
    sort: Sort = Field("newest", description="newest; or priority: negative first, highest-spending customers first.")
    limit: int = Field(100, ge=1, le=500, description="At most this many.")


@router.get("/feedback", response_model=list[FeedbackOut], responses=_doc(404, 422))
def get_feedback(
    engine: Db,
    _caller: Annotated[Caller, Depends(require(*READ_FEEDBACK))],
    query: Annotated[FeedbackQuery, Query()],
) -> list[FeedbackOut]:
    """Feedback for customer service, filtered by product, customer, sentiment, rating, time and status; newest
    first, or with `sort=priority` negative feedback first (then unscored, then positive), high-value customers
    first within each. An unknown customer or product to filter on is a 404. Roles: admin, ops, sales_rep,
    marketing."""
    with domain_errors():
        return feedback.list_feedback(
            engine,
            query.product_id,
            query.customer_id,
            query.sentiment,
            query.since,
            query.sort,
            query.limit,
            rating=query.rating,
            until=query.until,
            status=query.status,
        )


def resolve(engine: Engine, caller: Caller, feedback_id: int, note: str) -> tuple[FeedbackOut, bool]:
    """Resolve feedback with `caller`'s key (named as audits name keys); what the route and the page both call."""
    with Session(db.reader(engine)) as s:
        name = key_label(s, caller.key_id)
    with domain_errors():
        return feedback_resolution.resolve(engine, feedback_id, note, caller.key_id, name)


@router.post(
    "/feedback/{feedback_id}/resolve",
    response_model=FeedbackOut,
    responses=_doc(
        404,
        422,
        s404="No feedback with this id.",
    ),
)
def post_resolve(
    feedback_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    body: ResolveIn,
    engine: Db,
    caller: Annotated[Caller, Depends(require(*RESOLVE_FEEDBACK))],
    response: Response,
) -> FeedbackOut:
    """Mark feedback resolved with a note saying what was done; the resolution records the API key (id and name)
    and writes an audit entry (entity `feedback`). Idempotent: resolving resolved feedback changes nothing, adds
    no audit entry and answers the first resolution (header `Resolved: earlier`). Roles: admin, ops, sales_rep."""
    resolved, now = resolve(engine, caller, feedback_id, body.note)
    response.headers["Resolved"] = "now" if now else "earlier"
    return resolved
