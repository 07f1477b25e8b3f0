"""Labelled text for the sentiment family: the workspace's reviews or users' files, and the held-out split.

Reviews (the workspace's, written before `T`, or one or more `--reviews FILE`) are split 80/20, stratified, with
the settings' seed (the benchmark protocol's split at seed 0); several files are split one by one (each file is a
`source`, with its own held-out rows), so each protocol's split is kept and each source is reported on its own.
Text sentiment has no time-dependent features to leak, so the split is by text, not by date.

Labels come from ratings: 4-5 positive (1), 1-2 negative (0); rating 3 is left out (see the README for why).
A file may instead carry `label` (or `sentiment`) as positive/negative/neutral; neutral is left out likewise.
"""

from __future__ import annotations

from collections.abc import Sequence
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
NEUTRAL = "neutral"  # a label word that is left out, as rating 3 is
LABEL_COLUMNS = ("label", "sentiment")  # the first one a file has holds its label words
TEST_SHARE = 0.2


def from_ratings(frame: pd.DataFrame, file: str) -> pd.DataFrame:
    """`text`, `label` (0/1) from `text` and `rating` 1-5 (3 left out) or `label` positive/negative/neutral
    (neutral left out). `attrs["left_out"]` counts the rows left out as neutral (rating 3 or the word)."""
    if "text" not in frame.columns:
        raise DataError("missing column 'text'", file=file, column="text")
    words_column = next((c for c in LABEL_COLUMNS if c in frame.columns), None)
    if "rating" in frame.columns:
        rating = pd.to_numeric(frame["rating"], errors="coerce")
        _refuse(frame, rating.isna() | ~rating.isin([1, 2, 3, 4, 5]), "rating", "a whole number 1-5", file)
        keep = (rating != 3).to_numpy()
        labels = (rating >= 4).astype("int64")
    elif words_column is not None:
        words = frame[words_column].astype(str).str.strip().str.lower()
        _refuse(frame, ~words.isin([*LABELS, NEUTRAL]), words_column, "positive, negative or neutral", file)
        keep = (words != NEUTRAL).to_numpy()
        labels = (words == "positive").astype("int64")
    else:
        raise DataError("needs a 'rating' (1-5) or a 'label' (positive/negative/neutral) column", file=file)
    left_out = int((~keep).sum())
    text = frame["text"].where(frame["text"].notna(), "").astype(str).str.strip()
    keep &= (text != "").to_numpy()
    out = pd.DataFrame({"text": text[keep].to_numpy(), "label": labels[keep].to_numpy()})
    if out["label"].nunique() < 2:
        raise DataError("needs both positive and negative examples", file=file, column="label")
    out.attrs["left_out"] = left_out
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


def source_names(paths: Sequence[Path]) -> list[str]:
    """What each file is called in figures: its name without suffix, or its path where two names are the same."""
    stems = [Path(p).stem for p in paths]
    return [stem if stems.count(stem) == 1 else str(p) for stem, p in zip(stems, paths, strict=True)]


def read_sources(paths: Sequence[Path]) -> pd.DataFrame:
    """Every file's labelled text with its `source` (see `source_names`), in file order.

    `attrs["left_out"]` maps each source to its rows left out as neutral."""
    if len(set(map(Path, paths))) < len(paths):
        raise ValueError("the same --reviews file is given twice")
    frames, left_out = [], {}
    for path, name in zip(paths, source_names(paths), strict=True):
        frame = read_labelled(Path(path))
        left_out[name] = frame.attrs["left_out"]
        frames.append(frame.assign(source=name))
    out = pd.concat(frames, ignore_index=True)
    out.attrs["left_out"] = left_out
    return out


def describe(frame: pd.DataFrame) -> str:
    """One line per source: labelled texts, negative and positive counts, and those left out as neutral."""
    left_out = frame.attrs.get("left_out", {})
    sources = frame["source"] if "source" in frame else pd.Series("reviews", index=frame.index)
    lines = []
    for name, part in frame.groupby(sources, sort=False):
        negative = int((part["label"] == 0).sum())
        lines.append(
            f"{name}: {len(part):,} labelled texts ({negative:,} negative, {len(part) - negative:,} positive), "
            f"{left_out.get(name, 0):,} neutral left out"
        )
    return "\n".join(lines)


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
    counts = frame["label"].value_counts()
    if counts.min() < 2 or TEST_SHARE * len(frame) < 2:
        raise ValueError(
            f"too few labelled texts to hold 20% out ({counts.get(0, 0)} negative, {counts.get(1, 0)} positive): "
            "each class needs at least two, and 20% of the rows at least two"
        )
    train, test = train_test_split(frame, test_size=TEST_SHARE, random_state=seed, stratify=frame["label"])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_sources(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`split_reviews` on each source alone (each keeps its own stratified 20%), then put together."""
    if "source" not in frame:
        return split_reviews(frame, seed)
    trains, tests = [], []
    for name, part in frame.groupby("source", sort=False):
        try:
            train, test = split_reviews(part.reset_index(drop=True), seed)
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from e
        trains.append(train)
        tests.append(test)
    return pd.concat(trains, ignore_index=True), pd.concat(tests, ignore_index=True)


def fingerprints(texts: pd.Series) -> np.ndarray:
    """A 64-bit hash per text: which texts a version trained on, without storing them twice."""
    return pd.util.hash_pandas_object(texts.reset_index(drop=True), index=False).to_numpy()


def for_split(ctx: Context, split: Split, options: SentimentOptions) -> Dataset:
    """The family's dataset stage: every labelled text for the refit; for the evaluation fit, the 80/20 split of
    each source, or every `reviews` text against the `test` files when they are given."""
    frame = read_sources(options.reviews) if options.reviews else workspace_reviews(ctx.ws, before=ctx.as_of)
    held_out = read_sources(options.test) if options.test else None
    for part in (frame, held_out):
        if part is not None and "source" in part:
            ctx.progress("sentiment: " + describe(part).replace("\n", "; "))
    params = {"reviews": len(frame), "positive_share": round(float(frame["label"].mean()), 4), "int8": options.int8}
    params |= {"left_out": sum(frame.attrs.get("left_out", {}).values())} if options.reviews else {}
    if split.test_end is None:  # the refit: everything labelled
        everything = frame if held_out is None else pd.concat([frame, held_out], ignore_index=True)
        return Dataset(split, everything, params=params)
    if held_out is None:
        train, test = split_sources(frame, ctx.settings.seed)
        how = f"20% of each source held out, stratified, seed {ctx.settings.seed}"
    else:
        train, test = frame, held_out
        shared = int(np.isin(fingerprints(test["text"]), fingerprints(train["text"])).sum())
        how = "the --test files" + (f"; {shared:,} of their texts are also in --reviews" if shared else "")
    ctx.progress(f"sentiment: training on {len(train):,} texts, evaluating on {len(test):,} ({how})")
    return Dataset(split, train, test, params | {"train_rows": len(train), "eval_rows": len(test)})
