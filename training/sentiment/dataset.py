"""Labelled text for the sentiment family: the workspace's reviews or a user's file, and the held-out split.

Reviews (the workspace's, written before `T`, or `--reviews FILE`) are split 80/20, stratified, with the
settings' seed (the benchmark protocol's split at seed 0). Text sentiment has no time-dependent features to
leak, so the split is by review, not by date.

Labels come from ratings: 4-5 positive (1), 1-2 negative (0); rating 3 is left out (see the README for why).
A file may instead carry `label` as positive/negative.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from features.contract import DataError
from features.importers import read_file
from retail.workspace import Workspace
from training.family import Context, Dataset, Split
from training.inputs import require_reviews
from training.sentiment.options import SentimentOptions

LABELS = ("negative", "positive")  # index = class id
TEST_SHARE = 0.2


def from_ratings(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """`text`, `label` (0/1) from `text` and `rating` 1-5 (3 left out) or `label` positive/negative."""
    if "text" not in frame.columns:
        raise DataError("missing column 'text'", file=file, column="text")
    if "rating" in frame.columns:
        rating = pd.to_numeric(frame["rating"], errors="coerce")
        _refuse(frame, rating.isna() | ~rating.isin([1, 2, 3, 4, 5]), "rating", "a whole number 1-5", file)
        keep = (rating != 3).to_numpy()
        labels = (rating >= 4).astype("int64")
    elif "label" in frame.columns:
        words = frame["label"].astype(str).str.strip().str.lower()
        _refuse(frame, ~words.isin(LABELS), "label", "positive or negative", file)
        keep = np.ones(len(frame), dtype=bool)
        labels = (words == "positive").astype("int64")
    else:
        raise DataError("needs a 'rating' (1-5) or a 'label' (positive/negative) column", file=file)
    text = frame["text"].where(frame["text"].notna(), "").astype(str).str.strip()
    keep &= (text != "").to_numpy()
    out = pd.DataFrame({"text": text[keep].to_numpy(), "label": labels[keep].to_numpy()})
    if out["label"].nunique() < 2:
        raise DataError("needs both positive and negative examples", file=file, column="label")
    return out


def _refuse(frame: pd.DataFrame, bad: pd.Series, column: str, expected: str, file: str) -> None:
    """A `DataError` naming the first bad row of `column`, if there is one."""
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        value = _plain(frame[column].iloc[row])
        raise DataError(
            f"{column} must be {expected}, got {value!r}", file=file, row=row + 1, column=column, value=value
        )


def _plain(value: object) -> object:
    """A numpy scalar as the Python value it holds, so messages read `7`, not `np.int64(7)`."""
    return value.item() if isinstance(value, np.generic) else value


def read_labelled(path: Path) -> pd.DataFrame:
    """A user's CSV or parquet of labelled text."""
    return from_ratings(read_file(Path(path)), Path(path).name)


def workspace_reviews(ws: Workspace, before: pd.Timestamp | None = None) -> pd.DataFrame:
    """The workspace's reviews (written before `before`), labelled from their ratings."""
    require_reviews(ws, "training sentiment (rated review text)")
    reviews = ws.read_raw("reviews", ["ts", "rating", "text"])
    assert reviews is not None
    if before is not None:
        reviews = reviews[reviews["ts"] < before]
    return from_ratings(reviews.reset_index(drop=True), "reviews")


def split_reviews(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified 80/20 split (the benchmark protocol's, with its seed 0 by default)."""
    if frame["label"].value_counts().min() < 2:
        raise ValueError("each class needs at least two examples to hold one out")
    train, test = train_test_split(frame, test_size=TEST_SHARE, random_state=seed, stratify=frame["label"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def fingerprints(texts: pd.Series) -> np.ndarray:
    """A 64-bit hash per text: which texts a version trained on, without storing them twice."""
    return pd.util.hash_pandas_object(texts.reset_index(drop=True), index=False).to_numpy()


def for_split(ctx: Context, split: Split, options: SentimentOptions) -> Dataset:
    """The family's dataset stage: every labelled review for the refit; the 80/20 split for the evaluation fit."""
    if options.reviews is not None:
        frame = read_labelled(options.reviews)
    else:
        frame = workspace_reviews(ctx.ws, before=ctx.as_of)
    params = {"reviews": len(frame), "positive_share": round(float(frame["label"].mean()), 4), "int8": options.int8}
    if split.test_end is None:
        return Dataset(split, frame, params=params)
    train, test = split_reviews(frame, ctx.settings.seed)
    return Dataset(split, train, test, params | {"train_rows": len(train), "eval_rows": len(test)})
