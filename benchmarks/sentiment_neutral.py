"""Rating 3: left out, a third class, or counted as negative? Judged on the protocol's positive/negative test set.

A quick proxy that needs no fine-tuning: frozen MiniLM embeddings and a logistic regression, trained three ways
on the protocol's training rows (plus the rating-3 reviews outside the test set where used) and scored on the
same held-out 4-5 / 1-2 reviews: accuracy and negative recall. Also shows where the rating-3 reviews land.
Prints figures; never fails.

    .venv/bin/python benchmarks/sentiment_neutral.py [--data FILE] [--sample N]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from training.sentiment import evaluate
from training.sentiment.baselines import FrozenEncoder

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "womens_clothing_reviews" / "reviews.csv"


def main(
    data: Annotated[Path, typer.Option(help="The clothing reviews CSV.")] = DEFAULT_DATA,
    sample: Annotated[int, typer.Option(help="Use this many training rows (0: all).")] = 0,
) -> None:
    raw = pd.read_csv(data).dropna(subset=["Review Text"])
    raw = raw.assign(text=raw["Title"].fillna("") + ". " + raw["Review Text"])
    polar = raw[raw["Rating"] != 3].reset_index(drop=True)
    train, test = train_test_split(polar, test_size=0.2, random_state=0, stratify=polar["Rating"] >= 4)
    neutral = raw[raw["Rating"] == 3]
    neutral_train, neutral_test = train_test_split(neutral, test_size=0.2, random_state=0)
    if sample:
        train = train.sample(min(sample, len(train)), random_state=0)
        neutral_train = neutral_train.sample(min(sample // 8, len(neutral_train)), random_state=0)
    encoder = FrozenEncoder()
    x_train, x_test = encoder.embed(train["text"].tolist()), encoder.embed(test["text"].tolist())
    x_neutral = encoder.embed(neutral_train["text"].tolist())
    x_neutral_test = encoder.embed(neutral_test["text"].tolist())
    y_test = (test["Rating"] >= 4).to_numpy().astype(int)
    y_train = (train["Rating"] >= 4).to_numpy().astype(int)
    typer.echo(f"{len(train):,} training reviews (+{len(neutral_train):,} rated 3), {len(test):,} test reviews")

    def fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
        return LogisticRegression(class_weight="balanced", max_iter=3000).fit(x, y)

    left_out = fit(x_train, y_train)
    three = fit(np.vstack([x_train, x_neutral]), np.concatenate([2 * y_train, np.ones(len(x_neutral), int)]))
    as_negative = fit(np.vstack([x_train, x_neutral]), np.concatenate([y_train, np.zeros(len(x_neutral), int)]))
    p3 = three.predict_proba(x_test)  # classes 0 negative, 1 neutral, 2 positive
    variants = {
        "rating 3 left out": left_out.predict_proba(x_test)[:, 1],
        "rating 3 a third class": p3[:, 2] / (p3[:, 0] + p3[:, 2]),
        "rating 3 counted negative": as_negative.predict_proba(x_test)[:, 1],
    }
    for name, p in variants.items():
        f = evaluate.figures(y_test, p)
        typer.echo(
            f"{name:28} accuracy {f['accuracy']:.4f}  negative recall {f['negative_recall']:.4f}  AUC {f['auc']:.4f}"
        )
    landed = left_out.predict_proba(x_neutral_test)[:, 1]
    typer.echo(
        f"held-out rating-3 reviews under the two-class model: {np.mean(landed >= 0.5):.1%} called positive; "
        f"P(positive) quartiles {np.round(np.quantile(landed, [0.25, 0.5, 0.75]), 3).tolist()}"
    )
    called = three.predict(x_neutral_test)
    typer.echo(f"three-class model finds {np.mean(called == 1):.1%} of held-out rating-3 reviews neutral")


if __name__ == "__main__":
    typer.run(main)
