"""Customer feedback: stored with its sentiment when a model can score it at once, else scored later in batch.

The references (customer, order, product) are checked first, so a bad request never costs a model call; then
the text is scored outside any transaction (a model call should never hold a database lock), and a scorer that
fails only leaves the row unscored: feedback is never lost because a model is missing, broken or busy. In the
Bento the text goes through the sentiment batcher (`Batched`: BentoML gathers concurrent calls into one model
call); otherwise the model runs in this process behind a bounded pool (`InProcess`: at most `SCORING_SLOTS`
scorings at once, a post that finds none free within `SLOT_WAIT_S` is stored unscored). Rows left unscored are
picked up by `score_pending` (`retail feedback score`) once a sentiment champion is registered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, case, func, select, update
from sqlalchemy.orm import Session

from retail import db
from serving.commerce import events
from serving.commerce.errors import Invalid, NotFound
from serving.commerce.payloads import Id, OrderId, UtcDateTime, money
from serving.commerce.tables import Customer, Feedback, Order, Product

log = logging.getLogger(__name__)

MAX_TEXT = 5000  # characters, as /sentiment accepts
SPENT = ("paid", "picking", "shipped", "delivered", "ready_for_pickup", "picked_up")  # orders that were paid for
Sentiment = Literal["positive", "negative"]
Sort = Literal["newest", "priority"]
Status = Literal["open", "resolved", "all"]
SCORING_SLOTS = 2  # feedback scorings at once in one process (a scoring keeps a core busy for ~10-50 ms)
SLOT_WAIT_S = 5.0  # a post that waits longer for a slot is stored unscored rather than held
_slots = threading.BoundedSemaphore(SCORING_SLOTS)


class Scorer(Protocol):
    """What scores feedback: the sentiment adapter (or a stub in tests): label and score per text, in order."""

    version: str

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]: ...


class Busy(Exception):
    """Every scoring slot stayed taken for `SLOT_WAIT_S`: the feedback is stored unscored."""


class InProcess:
    """A scorer run in this process behind the bounded pool: at most `SCORING_SLOTS` of its calls at once."""

    def __init__(self, inner: Scorer) -> None:
        self.inner, self.version = inner, inner.version

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        if not _slots.acquire(timeout=SLOT_WAIT_S):
            raise Busy(f"no free scoring slot within {SLOT_WAIT_S:g} s")
        try:
            return self.inner.score(texts)
        finally:
            _slots.release()


class Batched:
    """Scores through the Bento's sentiment batcher (`remote`, whose `classify` answers P(positive) per text); the
    loaded adapter gives the version and the threshold, and scores in process (bounded) if a batcher call fails."""

    def __init__(self, adapter: Any, remote: Any) -> None:
        self.adapter, self.remote, self.version = adapter, remote, adapter.version

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        try:
            scores = [float(p) for p in self.remote.to_sync.classify(list(texts))]
        except Exception as exc:
            log.warning("sentiment batcher call failed (%s): scoring %d feedback texts in process", exc, len(texts))
            return InProcess(self.adapter).score(texts)
        threshold = float(self.adapter.inner.threshold)
        return [{"label": "positive" if p >= threshold else "negative", "score": p} for p in scores]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C00001",
                    "order_id": "O3F2A9C1D7E4B5A60",
                    "product_id": "P0001",
                    "rating": 2,
                    "text": "The seam ripped after one wash.",
                }
            ]
        },
    )

    customer_id: Id
    order_id: OrderId | None = Field(None, description="An order of this customer the feedback is about.")
    product_id: Id | None = Field(None, description="The product the feedback is about.")
    rating: int | None = Field(None, ge=1, le=5, description="Stars, 1-5.")
    text: str = Field(min_length=1, max_length=MAX_TEXT, description=f"1 to {MAX_TEXT:,} characters, not blank.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text is blank: feedback needs some words")
        if "\x00" in text:  # PostgreSQL cannot store it
            raise ValueError("text contains a NUL character")
        return text


class FeedbackOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 17,
                    "customer_id": "C00001",
                    "order_id": "O3F2A9C1D7E4B5A60",
                    "product_id": "P0001",
                    "rating": 2,
                    "text": "The seam ripped after one wash.",
                    "created_at": "2026-07-01T10:00:00Z",
                    "label": "negative",
                    "score": 0.04,
                    "model_version": "3",
                    "customer_spend": None,
                    "resolved_at": "2026-07-02T09:30:00Z",
                    "resolved_by": "service desk",
                    "resolution_note": "Replacement sent; customer happy.",
                }
            ]
        }
    )

    id: int
    customer_id: str
    order_id: str | None
    product_id: str | None
    rating: int | None
    text: str
    created_at: UtcDateTime
    label: Sentiment | None = Field(description="None while unscored (no sentiment model was registered).")
    score: float | None = Field(description="P(positive), None while unscored.")
    model_version: str | None = Field(description="The sentiment model version that scored it.")
    customer_spend: float | None = Field(
        None, description="With `sort=priority`: what the customer has paid for in all (the ranking's tie-break)."
    )
    resolved_at: UtcDateTime | None = Field(None, description="When customer service resolved it; None while open.")
    resolved_by: str | None = Field(
        None, description="The name of the API key that resolved it (its prefix if unnamed)."
    )
    resolved_key_id: int | None = Field(None, description="The id of that API key.")
    resolution_note: str | None = Field(None, description="What was done, in the resolver's words.")


def as_out(row: Feedback, spend_cents: int | None = None) -> FeedbackOut:
    """A stored row as the API answers it (`spend_cents`: the customer's spend, when ranked by priority)."""
    return FeedbackOut(
        id=row.id,
        customer_id=row.customer_id,
        order_id=row.order_id,
        product_id=row.product_id,
        rating=row.rating,
        text=row.text,
        created_at=row.created_at,
        label=row.label,  # type: ignore[arg-type]  # only positive | negative are ever written
        score=row.score,
        model_version=row.model_version,
        customer_spend=None if spend_cents is None else money(spend_cents),
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolved_key_id=row.resolved_key_id,
        resolution_note=row.resolution_note,
    )


def _score(scorer: Scorer | None, texts: Sequence[str]) -> tuple[list[dict[str, Any]] | None, str | None]:
    """(label/score per text, model version), or (None, None) when there is no scorer or it fails."""
    if scorer is None:
        return None, None
    try:
        return scorer.score(texts), str(scorer.version)
    except Busy as exc:
        log.warning("%s: %d feedback texts stay unscored (`retail feedback score`)", exc, len(texts))
    except Exception:
        log.exception("scoring %d feedback texts failed; they stay unscored", len(texts))
    return None, None


def _check_refs(s: Session, body: FeedbackIn) -> None:
    if s.get(Customer, body.customer_id) is None:
        raise Invalid(f"customer_id: unknown customer {body.customer_id!r}", "customer_id", body.customer_id)
    if body.order_id is not None:
        owner = s.execute(select(Order.customer_id).where(Order.order_id == body.order_id)).first()
        if owner is None:
            raise Invalid(f"order_id: unknown order {body.order_id!r}", "order_id", body.order_id)
        if owner.customer_id != body.customer_id:
            raise Invalid(
                f"order_id: order {body.order_id!r} is not an order of customer {body.customer_id!r}",
                "order_id",
                body.order_id,
            )
    if body.product_id is not None and s.get(Product, body.product_id) is None:
        raise Invalid(f"product_id: unknown product {body.product_id!r}", "product_id", body.product_id)


def create(engine: Engine, body: FeedbackIn, scorer: Scorer | None = None) -> FeedbackOut:
    """Store feedback, scored by `scorer` when there is one; raises `Invalid` for unknown references, before
    any model call."""
    with Session(db.reader(engine)) as s:
        _check_refs(s, body)
    scored, version = _score(scorer, [body.text])
    with Session(engine, expire_on_commit=False) as s, s.begin():
        _check_refs(s, body)  # again in the write: a few look-ups by key
        row = Feedback(
            customer_id=body.customer_id,
            order_id=body.order_id,
            product_id=body.product_id,
            rating=body.rating,
            text=body.text,
            created_at=events.now(),
        )
        if scored is not None:
            row.label, row.score, row.model_version = scored[0]["label"], float(scored[0]["score"]), version
        s.add(row)
        if body.product_id is not None and body.rating is not None:  # the catalogue's rating, in this transaction
            rated = {"rating_count": Product.rating_count + 1, "rating_sum": Product.rating_sum + body.rating}
            s.execute(update(Product).where(Product.product_id == body.product_id).values(rated))
        s.flush()
        view = as_out(row)
    log.info("feedback %d from %s stored (%s)", view.id, view.customer_id, view.label or "unscored")
    return view


def score_pending(engine: Engine, scorer: Scorer, batch: int = 256) -> int:
    """Score every unscored feedback row with `scorer`, `batch` texts per model call; how many were scored.

    Each batch commits on its own, so an interrupted run keeps what it scored and the next one resumes.
    """
    done, after = 0, 0
    while True:
        with Session(db.reader(engine)) as s:
            rows = s.execute(
                select(Feedback.id, Feedback.text)
                .where(Feedback.label.is_(None), Feedback.id > after)
                .order_by(Feedback.id)
                .limit(batch)
            ).all()
        if not rows:
            return done
        scored = scorer.score([r.text for r in rows])
        version = str(scorer.version)
        with Session(engine) as s, s.begin():
            for r, result in zip(rows, scored, strict=True):
                s.execute(
                    update(Feedback)
                    .where(Feedback.id == r.id, Feedback.label.is_(None))
                    .values(label=result["label"], score=float(result["score"]), model_version=version)
                )
        done, after = done + len(rows), rows[-1].id
        log.info("scored %d pending feedback rows so far", done)


def _naive_utc(moment: datetime) -> datetime:
    """Naive UTC, as stored; a time at the very edge of the calendar stays at that edge rather than overflowing."""
    if moment.tzinfo is None:
        return moment
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:
        return datetime.min if moment.year == datetime.min.year else datetime.max


def _check_filters(s: Session, customer_id: str | None, product_id: str | None) -> None:
    """A filter naming nobody is a mistake worth saying (`NotFound`), not an empty list."""
    if customer_id is not None and s.get(Customer, customer_id) is None:
        raise NotFound(f"customer_id: unknown customer {customer_id!r}", "customer_id", customer_id)
    if product_id is not None and s.get(Product, product_id) is None:
        raise NotFound(f"product_id: unknown product {product_id!r}", "product_id", product_id)


def list_feedback(
    engine: Engine,
    product_id: str | None = None,
    customer_id: str | None = None,
    sentiment: Sentiment | None = None,
    since: datetime | None = None,
    sort: Sort = "newest",
    limit: int = 100,
    *,
    rating: int | None = None,
    until: datetime | None = None,
    status: Status = "all",
) -> list[FeedbackOut]:
    """Feedback matching every filter given (`since` inclusive, `until` exclusive; `status` open, resolved or all),
    newest first; `NotFound` for an unknown customer or product.

    `priority` puts negative feedback first, then unscored (it may be negative), then positive; within each,
    customers who have paid for more come first, then the newest.
    """
    query = select(Feedback)
    if product_id is not None:
        query = query.where(Feedback.product_id == product_id)
    if customer_id is not None:
        query = query.where(Feedback.customer_id == customer_id)
    if sentiment is not None:
        query = query.where(Feedback.label == sentiment)
    if rating is not None:
        query = query.where(Feedback.rating == rating)
    if since is not None:
        query = query.where(Feedback.created_at >= _naive_utc(since))
    if until is not None:
        query = query.where(Feedback.created_at < _naive_utc(until))
    if status != "all":
        query = query.where(Feedback.resolved_at.is_(None) if status == "open" else Feedback.resolved_at.is_not(None))
    newest = (Feedback.created_at.desc(), Feedback.id.desc())
    with Session(db.reader(engine)) as s:
        _check_filters(s, customer_id, product_id)
        if sort == "newest":
            return [as_out(row) for row in s.scalars(query.order_by(*newest).limit(limit))]
        spend = (
            select(Order.customer_id, func.sum(Order.total_cents).label("cents"))
            .where(Order.status.in_(SPENT))
            .group_by(Order.customer_id)
            .subquery()
        )
        cents = func.coalesce(spend.c.cents, 0)
        rank = case((Feedback.label == "negative", 0), (Feedback.label.is_(None), 1), else_=2)
        ranked = (
            query.add_columns(cents)
            .outerjoin(spend, spend.c.customer_id == Feedback.customer_id)
            .order_by(rank, cents.desc(), *newest)
            .limit(limit)
        )
        return [as_out(row, int(c)) for row, c in s.execute(ranked)]


def get(engine: Engine, feedback_id: int) -> FeedbackOut:
    """One feedback item; `NotFound` for an unknown id."""
    with Session(db.reader(engine)) as s:
        row = s.get(Feedback, feedback_id)
        if row is None:
            raise NotFound(f"feedback_id: unknown feedback {feedback_id}", "feedback_id", feedback_id)
        return as_out(row)


def recent(s: Session, customer_id: str, limit: int) -> list[FeedbackOut]:
    """A customer's newest feedback, inside the caller's session (the profile reads several things in one)."""
    query = (
        select(Feedback)
        .where(Feedback.customer_id == customer_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(limit)
    )
    return [as_out(row) for row in s.scalars(query)]


def scored_rows(engine: Engine, customer_ids: list[str] | None = None) -> pd.DataFrame:
    """Scored feedback as review scores (review_id F<id>, customer_id, product_id, ts, score): what the sentiment
    features roll up next to the reviews, in a build and in a push."""
    query = select(Feedback).where(Feedback.score.is_not(None))
    if customer_ids is not None:
        query = query.where(Feedback.customer_id.in_(customer_ids))
    with Session(db.reader(engine)) as s:
        rows = list(s.scalars(query.order_by(Feedback.id)))
    return pd.DataFrame(
        {
            "review_id": [f"F{r.id}" for r in rows],
            "customer_id": [r.customer_id for r in rows],
            "product_id": [r.product_id for r in rows],
            "ts": pd.to_datetime([r.created_at for r in rows]),
            "score": [float(r.score) for r in rows if r.score is not None],
        }
    )
