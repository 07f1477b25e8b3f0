"""Sentiment batch scoring: what `retail predict sentiment` writes, and every review scored by the @champion for
the sentiment features.

Review scores live with the sentiment family, not in `features/`, because they load the family's registered
model; `features.build.build_features` takes `review_scores` as its argument (features never import training).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from features.derived import MissingInput
from features.sentiment import SCORE_COLUMNS
from retail.settings import Settings
from retail.workspace import Workspace
from training import inputs, run, tracking
from training.family import Context

log = logging.getLogger(__name__)


def score(model: Any, texts: pd.Series) -> pd.DataFrame:
    """`label` and `score` = P(positive) per text, in order, from a loaded pyfunc (a missing text scores as empty)."""
    return model.predict(texts.fillna("").to_frame("text"))


def predict(ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
    """The input rows (default: every workspace review) with `label` and `score` added."""
    frame = options.get("input")
    if frame is None:
        frame = ctx.ws.read_raw("reviews")
        if frame is None or frame.empty:
            raise MissingInput(
                "texts to score (no reviews table)",
                "scoring sentiment in batch",
                f"pass --in FILE (a CSV or parquet with a text column), or import reviews with {inputs.IMPORT}",
            )
    if "text" not in frame.columns:
        raise ValueError(f"input has no 'text' column (columns: {', '.join(map(str, frame.columns))})")
    ctx.progress(f"sentiment: scoring {len(frame):,} texts with version {version}")
    started = time.perf_counter()
    scored = score(model, frame["text"])
    out = frame.reset_index(drop=True).assign(label=scored["label"].to_numpy(), score=scored["score"].to_numpy())
    out.attrs["scoring_seconds"] = time.perf_counter() - started  # the rest of a command's time is start-up
    return out


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
    scored = score(model, reviews["text"])
    scores = reviews[SCORE_COLUMNS[:-1]].reset_index(drop=True).assign(score=scored["score"].to_numpy())
    ws.write_meta(review_scores_version=version)
    return scores
