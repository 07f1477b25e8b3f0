"""Sentiment on two domains: one model trained on the clothing reviews' and the airline tweets' protocol train
splits, reported on both protocol test splits (../shared/data/README.md).

Each data set becomes a protocol file (reviews: Title + ". " + Review Text with the rating, rows without review
text dropped; tweets: text with its positive / negative / neutral label) and is read, labelled (rating 3 and
neutral left out) and split exactly as `retail train sentiment --reviews reviews.csv --reviews tweets.csv` does:
each file on its own, stratified 80/20 at seed 0, which is each protocol's split. MiniLM is fine-tuned on both
train splits together with the CLI's default options (`SentimentOptions`, so the two cannot drift apart), saved
with its int8 export under `--model-dir`, and scored per test split as served on a CPU without AMX (int8 ONNX)
and in full precision, next to VADER and the majority class. Prints figures; never fails on a target.

    .venv/bin/python benchmarks/sentiment_domains.py [--model-dir DIR] [--train-on reviews --train-on tweets]
        [--epochs N] [--negative-weight W] [--reuse]

`--reuse` scores the model already saved in `--model-dir` (no training); `--train-on` picks the train splits (both
by default; the test splits are always both).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REVIEWS = DATA / "womens_clothing_reviews" / "reviews.csv"
TWEETS = DATA / "airline_tweets" / "tweets.csv"
MODEL_DIR = Path(tempfile.gettempdir()) / "sentiment_domains_model"
TARGETS = {"tweets": 0.92, "reviews": 0.95}  # accuracy
log = logging.getLogger("sentiment_domains")


def protocol_files(reviews: Path, tweets: Path, folder: Path) -> list[Path]:
    """`reviews.csv` (text, rating) and `tweets.csv` (text, label) in `folder`, as the protocols build the text."""
    raw = pd.read_csv(reviews)
    raw = raw[raw["Review Text"].notna()]
    out = [folder / "reviews.csv", folder / "tweets.csv"]
    pd.DataFrame({"text": raw["Title"].fillna("") + ". " + raw["Review Text"], "rating": raw["Rating"]}).to_csv(
        out[0], index=False
    )
    tw = pd.read_csv(tweets)
    pd.DataFrame({"text": tw["text"], "label": tw["sentiment"]}).to_csv(out[1], index=False)
    return out


def _row(title: str, found: dict[str, float]) -> str:
    return f"{title:34} {found['accuracy']:9.4f} {found['macro_f1']:9.4f} {found['negative_recall']:12.4f}"


def main(
    model_dir: Annotated[Path, typer.Option(help="Where the fine-tuned model is saved.")] = MODEL_DIR,
    train_on: Annotated[list[str] | None, typer.Option(help="Train splits: reviews, tweets (default both).")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Passes (default: the CLI's).")] = None,
    negative_weight: Annotated[float | None, typer.Option(help="Negatives' loss weight (default: the CLI's).")] = None,
    review_sample: Annotated[
        int | None, typer.Option(min=100, help="Train on this many of the reviews' train split (stratified sample).")
    ] = None,
    full_precision: Annotated[bool, typer.Option(help="Also score in full precision (slow on a busy CPU).")] = True,
    reuse: Annotated[bool, typer.Option(help="Score the model saved in --model-dir; no training.")] = False,
    reviews: Annotated[Path, typer.Option(help="The clothing reviews CSV.")] = REVIEWS,
    tweets: Annotated[Path, typer.Option(help="The airline tweets CSV.")] = TWEETS,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from training.sentiment import baselines, dataset
    from training.sentiment.evaluate import figures
    from training.sentiment.model.classifier import Classifier, Tuning, fine_tune
    from training.sentiment.model.int8 import Int8Classifier, export
    from training.sentiment.options import SentimentOptions

    with tempfile.TemporaryDirectory() as tmp:
        frame = dataset.read_sources(protocol_files(reviews, tweets, Path(tmp)))
    typer.echo(dataset.describe(frame))
    train, test = dataset.split_sources(frame, seed=0)
    chosen = train_on or ["reviews", "tweets"]
    train = train[train["source"].isin(chosen)].reset_index(drop=True)
    if review_sample is not None:  # fewer reviews, where CPU time is short: the test splits stay whole
        from sklearn.model_selection import train_test_split

        is_review = (train["source"] == "reviews").to_numpy()
        kept, _ = train_test_split(
            train[is_review], train_size=review_sample, random_state=0, stratify=train.loc[is_review, "label"]
        )
        train = pd.concat([kept, train[~is_review]], ignore_index=True)
    defaults = SentimentOptions()
    tuning = Tuning(
        epochs if epochs is not None else defaults.epochs,
        defaults.batch_size,
        defaults.learning_rate,
        defaults.max_length,
        negative_weight if negative_weight is not None else defaults.negative_weight,
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    if reuse:
        model = Classifier.load(model_dir)
        meta = json.loads((model_dir / "benchmark.json").read_text())
    else:
        started = time.perf_counter()
        model = fine_tune(train["text"].tolist(), train["label"].to_numpy(), tuning, seed=0, progress=log.info)
        meta = {"train_seconds": time.perf_counter() - started, "train_on": chosen, "tuning": tuning.__dict__}
        meta["review_sample"] = review_sample
        meta["train_rows"] = len(train)
        model.save(model_dir)
        export(model_dir)
        (model_dir / "benchmark.json").write_text(json.dumps(meta, indent=1))
    int8 = Int8Classifier(model_dir)
    texts = test["text"].tolist()
    started = time.perf_counter()
    served = int8.scores(texts)
    int8_rate = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    full = model.scores(texts) if full_precision else np.full(len(texts), np.nan)
    fp32_rate = len(texts) / (time.perf_counter() - started)
    vader = baselines.vader_scores(texts)
    test.assign(int8=served, fp32=full, vader=vader).to_parquet(model_dir / "test_scores.parquet", index=False)

    typer.echo(
        f"\ntrained on {', '.join(meta['train_on'])} ({meta['train_rows']:,} texts; reviews sampled to "
        f"{meta.get('review_sample')}) in "
        f"{meta['train_seconds'] / 60:.1f} min; tuning {meta['tuning']}; "
        f"test scoring int8 {int8_rate:.0f} texts/s" + (f", fp32 {fp32_rate:.0f}/s" if full_precision else "")
    )
    for name, part in test.groupby("source", sort=False):
        rows = part.index.to_numpy()
        y = part["label"].to_numpy()
        majority = max(float(y.mean()), 1 - float(y.mean()))
        typer.echo(f"\n{name}: {len(part):,} held-out texts ({int((y == 0).sum()):,} negative)")
        typer.echo(f"{'model':34} {'accuracy':>9} {'macro-F1':>9} {'neg. recall':>12}")
        typer.echo(_row("fine-tuned MiniLM, int8 (served)", figures(y, served[rows])))
        if full_precision:
            typer.echo(_row("fine-tuned MiniLM, full precision", figures(y, full[rows])))
        typer.echo(_row("VADER (compound >= 0.05)", figures(y, vader[rows], baselines.vader_threshold())))
        typer.echo(f"{'majority class':34} {majority:9.4f}")
        target = TARGETS.get(str(name))
        if target is not None:
            found = figures(y, served[rows])["accuracy"]
            typer.echo(f"target accuracy >= {target}: {found:.4f} {'met' if found >= target else 'NOT met'}")


if __name__ == "__main__":
    typer.run(main)
