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
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from serving.commerce.tables import Feedback, Product

WINDOW = timedelta(weeks=12)  # the weeks shown when no start is given
TOP = 5  # products drawn
COLUMNS = ["product_id", "ts", "score"]
_cache: dict[Path, tuple[float, pd.DataFrame]] = {}
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
    except OSError:
        return pd.DataFrame(columns=COLUMNS)
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


def _feedback(engine: Engine, since: datetime | None, until: datetime | None, product_id: str | None) -> pd.DataFrame:
    query = select(Feedback.product_id, Feedback.created_at, Feedback.score).where(
        Feedback.score.is_not(None), Feedback.product_id.is_not(None)
    )
    if since is not None:
        query = query.where(Feedback.created_at >= since)
    if until is not None:
        query = query.where(Feedback.created_at < until)
    if product_id is not None:
        query = query.where(Feedback.product_id == product_id)
    with Session(db.reader(engine)) as s:
        rows = s.execute(query).all()
    return pd.DataFrame(
        {
            "product_id": [r.product_id for r in rows],
            "ts": pd.to_datetime([r.created_at for r in rows]),
            "score": [float(r.score) for r in rows],
        },
        columns=COLUMNS,
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

    Without `since` the window is the `WINDOW` before `until` (or before the newest scored item)."""
    found = _feedback(engine, since, until, product_id)
    picked = reviews
    if product_id is not None:
        picked = picked[picked["product_id"] == product_id]
    if until is not None:
        picked = picked[picked["ts"] < pd.Timestamp(until)]
    if since is None:
        newest = max((f["ts"].max() for f in (picked, found) if len(f)), default=None)
        if newest is None:
            return Weekly(pd.DataFrame(columns=["product_id", "name", "week", "score", "items"]), since, until)
        since = (newest - WINDOW).to_pydatetime()
        found = found[found["ts"] >= pd.Timestamp(since)]
    picked = picked[picked["ts"] >= pd.Timestamp(since)]
    both = pd.concat([picked.assign(source="review"), found.assign(source="feedback")], ignore_index=True)
    counts = both["product_id"].value_counts()
    products = sorted(counts.index[:top], key=lambda p: (-counts[p], p)) if len(counts) else []
    chosen = both[both["product_id"].isin(products)]
    week = chosen["ts"].dt.to_period("W-SUN").dt.start_time
    weeks = (
        chosen.assign(week=week)
        .groupby(["product_id", "week"], as_index=False)
        .agg(score=("score", "mean"), items=("score", "size"))
        .sort_values(["product_id", "week"], ignore_index=True)
    )
    names = _names(engine, products)
    weeks["name"] = weeks["product_id"].map(lambda p: names.get(p, p))
    return Weekly(
        weeks[["product_id", "name", "week", "score", "items"]],
        since,
        until,
        reviews=int((both["source"] == "review").sum()),
        feedback=int((both["source"] == "feedback").sum()),
        products=products,
    )
