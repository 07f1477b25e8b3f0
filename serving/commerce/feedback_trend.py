"""Sentiment by product and week: the mean P(positive) of reviews and scored feedback, for the most talked-about
products.

Two sources count, as in the sentiment features: the reviews the last feature build scored (the workspace's
`review_scores.parquet`, read once per change of the file) and feedback scored by the sentiment model (the order
database). Unscored feedback does not count: it has no score yet.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from serving.commerce.tables import Feedback, Product

WINDOW = timedelta(weeks=12)  # the weeks shown when no start is given
TOP = 5  # products drawn
COLUMNS = ["product_id", "ts", "score"]
DAILY = ["product_id", "day", "total", "items"]
NO_REVIEWS = pd.DataFrame(
    {"product_id": pd.Series(dtype=object), "ts": pd.Series(dtype="datetime64[ns]"), "score": pd.Series(dtype=float)}
)
CACHED = 64  # weekly results kept per process (one per filter asked for)
_cache: dict[Path, tuple[float, pd.DataFrame]] = {}
_weekly: dict[tuple[object, ...], Weekly] = {}
_lock = threading.Lock()


@dataclass
class Weekly:
    """Mean P(positive) per product and week (`weeks`: product_id, name, week, score, items) over [since, until)."""

    weeks: pd.DataFrame
    since: datetime | None
    until: datetime | None
    reviews: int = 0  # reviews in the window (all products)
    feedback: int = 0  # scored feedback in the window (all products)
    products: list[str] = field(default_factory=list)


def review_scores(path: Path) -> pd.DataFrame:
    """The scored reviews (product_id, ts, score) of a feature build; empty when there is none. Cached per file
    modification time."""
    try:
        stamp = path.stat().st_mtime
    except OSError:  # no reviews (an imported order history has none)
        return NO_REVIEWS
    with _lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    frame = pd.read_parquet(path, columns=COLUMNS).dropna(subset=["product_id", "score"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    frame = frame.sort_values("ts", ignore_index=True)
    with _lock:
        _cache[path] = (stamp, frame)
    return frame


def _signature(engine: Engine) -> tuple[object, ...]:
    """What changes when scored feedback does: how many rows are scored and the newest id (one indexed scan)."""
    with Session(db.reader(engine)) as s:
        found = s.execute(select(func.count(Feedback.score), func.max(Feedback.id))).one()
    return tuple(found)


def _newest(engine: Engine, until: datetime | None, product_id: str | None) -> datetime | None:
    query = select(func.max(Feedback.created_at)).where(Feedback.score.is_not(None), Feedback.product_id.is_not(None))
    if until is not None:
        query = query.where(Feedback.created_at < until)
    if product_id is not None:
        query = query.where(Feedback.product_id == product_id)
    with Session(db.reader(engine)) as s:
        newest = s.scalar(query)
    return newest if isinstance(newest, datetime) else None


def _feedback(engine: Engine, since: datetime | None, until: datetime | None, product_id: str | None) -> pd.DataFrame:
    """Scored feedback per product and day (product_id, day, total of scores, items), summed by the database."""
    day = func.date(Feedback.created_at)  # SQLite and PostgreSQL both have date()
    query = select(Feedback.product_id, day, func.sum(Feedback.score), func.count()).where(
        Feedback.score.is_not(None), Feedback.product_id.is_not(None)
    )
    if since is not None:
        query = query.where(Feedback.created_at >= since)
    if until is not None:
        query = query.where(Feedback.created_at < until)
    if product_id is not None:
        query = query.where(Feedback.product_id == product_id)
    with Session(db.reader(engine)) as s:
        rows = s.execute(query.group_by(Feedback.product_id, day)).all()
    return pd.DataFrame(
        {
            "product_id": [r[0] for r in rows],
            "day": pd.to_datetime([str(r[1]) for r in rows]),
            "total": [float(r[2]) for r in rows],
            "items": [int(r[3]) for r in rows],
        },
        columns=DAILY,
    )


def _names(engine: Engine, product_ids: list[str]) -> dict[str, str]:
    if not product_ids:
        return {}
    with Session(db.reader(engine)) as s:
        rows = s.execute(select(Product.product_id, Product.name).where(Product.product_id.in_(product_ids))).all()
    return {r.product_id: r.name for r in rows}


def sentiment_by_week(
    engine: Engine,
    reviews: pd.DataFrame,
    since: datetime | None = None,
    until: datetime | None = None,
    product_id: str | None = None,
    top: int = TOP,
) -> Weekly:
    """Mean P(positive) per week (weeks start on Monday) of `reviews` (`review_scores`) and scored feedback in
    [since, until), for `product_id` or else the `top` products with the most scored items in the window.

    Without `since` the window is the `WINDOW` before `until` (or before the newest scored item). Results are kept
    per process, keyed by the arguments, the reviews and what `_signature` says of scored feedback."""
    key = (id(engine), id(reviews), len(reviews), since, until, product_id, top, _signature(engine))
    with _lock:
        hit = _weekly.get(key)
    if hit is not None:
        return hit
    found = _weekly_of(engine, reviews, since, until, product_id, top)
    with _lock:
        if len(_weekly) >= CACHED:
            _weekly.clear()
        _weekly[key] = found
    return found


def _weekly_of(
    engine: Engine,
    reviews: pd.DataFrame,
    since: datetime | None,
    until: datetime | None,
    product_id: str | None,
    top: int,
) -> Weekly:
    picked = reviews.assign(ts=pd.to_datetime(reviews["ts"]))
    if product_id is not None:
        picked = picked[picked["product_id"] == product_id]
    if until is not None:
        picked = picked[picked["ts"] < pd.Timestamp(until)]
    if since is None:
        newest_review = picked["ts"].max() if len(picked) else None
        ends = [t for t in (newest_review, _newest(engine, until, product_id)) if t is not None and not pd.isna(t)]
        if not ends:
            return Weekly(pd.DataFrame(columns=["product_id", "name", "week", "score", "items"]), since, until)
        since = (pd.Timestamp(max(ends)) - WINDOW).to_pydatetime()
    found = _feedback(engine, since, until, product_id).assign(source="feedback")
    picked = picked[picked["ts"] >= pd.Timestamp(since)]
    daily = (
        picked.assign(day=picked["ts"].dt.floor("D"))
        .groupby(["product_id", "day"], as_index=False)
        .agg(total=("score", "sum"), items=("score", "size"))
        .assign(source="review")
    )
    both = pd.concat([daily, found], ignore_index=True)
    counts = both.groupby("product_id")["items"].sum()
    products = sorted(counts.index, key=lambda p: (-counts[p], p))[:top]
    chosen = both[both["product_id"].isin(products)]
    weeks = (
        chosen.assign(week=chosen["day"].dt.to_period("W-SUN").dt.start_time)
        .groupby(["product_id", "week"], as_index=False)
        .agg(total=("total", "sum"), items=("items", "sum"))
        .sort_values(["product_id", "week"], ignore_index=True)
    )
    weeks["score"] = weeks["total"] / weeks["items"]
    names = _names(engine, products)
    weeks["name"] = weeks["product_id"].map(lambda p: names.get(p, p))
    return Weekly(
        weeks[["product_id", "name", "week", "score", "items"]],
        since,
        until,
        reviews=int(both.loc[both["source"] == "review", "items"].sum()),
        feedback=int(both.loc[both["source"] == "feedback", "items"].sum()),
        products=products,
    )
