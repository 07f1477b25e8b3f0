"""Review sentiment as features: each review scored by the sentiment champion, rolled up per customer and product.

The scores come from the caller (`training.sentiment.batch.review_scores`, passed to
`features.build.build_features`): features never import training. Rows are written on each review day and on
the day a review leaves a window, so a point-in-time join at any cutoff sees exactly the reviews written before
it. Without reviews or without a sentiment model the tables are empty (the features read as missing).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.catalog import SENTIMENT_FEATURES, SENTIMENT_WINDOWS

log = logging.getLogger(__name__)
DAY = pd.Timedelta(days=1)
NEGATIVE_BELOW = 0.5  # a review scored under this reads as negative
SCORE_COLUMNS = ["review_id", "customer_id", "product_id", "ts", "score"]


def rolled_up(scores: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per `key` and change point: mean score and negative share over each window, and the reviews counted."""
    columns = [key, "event_timestamp", *SENTIMENT_FEATURES]
    scores = scores[scores[key].notna()]
    if scores.empty:
        return pd.DataFrame({c: pd.Series(dtype="float32") for c in columns}).astype({key: str})
    daily = (
        scores.assign(day=scores["ts"].dt.floor("D"), negative=(scores["score"] < NEGATIVE_BELOW).astype(float))
        .groupby([key, "day"], sort=True)
        .agg(n=("score", "size"), score=("score", "sum"), negative=("negative", "sum"))
        .reset_index()
    )
    cum = daily[[key, "day"]].assign(**{c: daily.groupby(key)[c].cumsum() for c in ("n", "score", "negative")})
    points = pd.concat(
        [pd.DataFrame({key: cum[key], "ts": cum["day"] + DAY * (1 + w)}) for w in (0,) + SENTIMENT_WINDOWS]
    )
    points = points.drop_duplicates().sort_values(["ts", key]).reset_index(drop=True)
    now = _before(points, cum, key, points["ts"])
    out = pd.DataFrame({key: points[key].astype(str), "event_timestamp": points["ts"]})
    for w in SENTIMENT_WINDOWS:
        then = _before(points, cum, key, points["ts"] - DAY * w)
        n = now["n"] - then["n"]
        out[f"sentiment_mean_{w}d"] = ((now["score"] - then["score"]) / n.where(n > 0)).to_numpy()
        out[f"negative_share_{w}d"] = ((now["negative"] - then["negative"]) / n.where(n > 0)).to_numpy()
        out[f"reviews_{w}d"] = n.to_numpy()
    out[list(SENTIMENT_FEATURES)] = out[list(SENTIMENT_FEATURES)].astype("float32")
    return out.sort_values([key, "event_timestamp"]).reset_index(drop=True)[columns]


def _before(points: pd.DataFrame, cum: pd.DataFrame, key: str, at: pd.Series) -> pd.DataFrame:
    """Cumulative counts of each point's key over the days strictly before `at`."""
    left = pd.DataFrame({key: points[key], "at": at}).reset_index().sort_values("at", kind="stable")
    right = cum.sort_values("day", kind="stable")
    merged = pd.merge_asof(left, right, left_on="at", right_on="day", by=key, allow_exact_matches=False)
    found = merged.set_index("index").reindex(points.index)[["n", "score", "negative"]]
    return found.fillna(0.0).astype(np.float64)
