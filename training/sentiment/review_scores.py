"""Every review scored by the sentiment @champion: the input of the sentiment features (`features.sentiment`).

It lives with the sentiment family, not in `features/`, because it loads the family's registered model;
`features.build.build_features` takes it as its `review_scores` argument (features never import training).
"""

from __future__ import annotations

import logging

import pandas as pd

from features.sentiment import SCORE_COLUMNS
from retail.settings import Settings
from retail.workspace import Workspace
from training import run, tracking

log = logging.getLogger(__name__)


def review_scores(ws: Workspace, settings: Settings) -> pd.DataFrame:
    """Every review's P(positive) from the sentiment @champion; reused while the reviews and version are the same."""
    reviews = ws.read_raw("reviews")
    if reviews is None or reviews.empty:
        return pd.DataFrame(columns=SCORE_COLUMNS)
    client = tracking.connect(ws, settings)
    version = tracking.alias_version(client, "sentiment", tracking.CHAMPION)
    if version is None:
        log.info("no sentiment @champion yet: sentiment features stay empty (train sentiment, then rebuild)")
        return pd.DataFrame(columns=SCORE_COLUMNS)
    cached = ws.features_dir / "review_scores.parquet"
    if cached.exists() and ws.read_meta().get("review_scores_version") == version:
        scores = pd.read_parquet(cached)
        if len(scores) == len(reviews) and scores["review_id"].equals(reviews["review_id"].reset_index(drop=True)):
            return scores
    model, version = run.load(ws, settings, "sentiment")
    scored = model.predict(reviews[["text"]].fillna({"text": ""}))
    scores = reviews[SCORE_COLUMNS[:-1]].reset_index(drop=True).assign(score=scored["score"].to_numpy())
    ws.write_meta(review_scores_version=version)
    return scores
