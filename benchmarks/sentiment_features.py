"""Does review sentiment help churn? Churn's own dataset with and without the customer sentiment features.

Needs a workspace whose features were built after a sentiment @champion existed (so `customer_sentiment` is
filled), e.g. `make pipeline`. Builds the churn family's training rows (its default weekly cutoffs) and
evaluation rows (`--as-of` minus the horizon), joins each customer's sentiment as of each cutoff (point in time),
fits the churn LightGBM with and without those columns over several seeds, and prints the evaluation AUC.
Prints figures; never fails.

    .venv/bin/python benchmarks/sentiment_features.py --workspace DIR [--horizon-days 90] [--seeds 3]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from sklearn.metrics import roc_auc_score

from features.catalog import SENTIMENT_FEATURES
from retail.workspace import Workspace
from training.churn import dataset
from training.churn.dataset import LABEL
from training.churn.model import fit_lgbm, prepare
from training.churn.options import ChurnOptions
from training.splits import plan_cutoffs


def with_sentiment(rows: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Each row's customer sentiment from the newest table row at or before its cutoff."""
    left = rows.reset_index().sort_values("cutoff", kind="stable")
    right = table.sort_values("event_timestamp", kind="stable")
    merged = pd.merge_asof(left, right, left_on="cutoff", right_on="event_timestamp", by="customer_id")
    return merged.set_index("index").reindex(rows.index)


def main(
    workspace: Annotated[Path, typer.Option(help="A built workspace with sentiment features.")],
    horizon_days: Annotated[int, typer.Option(help="Churn horizon.")] = 90,
    seeds: Annotated[int, typer.Option(min=1, help="LightGBM seeds per variant.")] = 3,
) -> None:
    ws = Workspace.at(workspace)
    table = pd.read_parquet(ws.features_dir / "customer_sentiment.parquet")
    if table.empty:
        typer.echo("customer_sentiment is empty: train sentiment, then `retail features build`, then run this")
        raise typer.Exit(2)
    tx = ws.read_transactions(["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"])
    as_of = tx["ts"].max().floor("D") + pd.Timedelta(days=1)
    horizon = pd.Timedelta(days=horizon_days)
    train_end = as_of - horizon
    options = ChurnOptions()
    plan = plan_cutoffs(as_of, horizon_days, options.cutoffs, options.step_days, tx["ts"].min())
    seen = tx[tx["ts"] < as_of]
    train = with_sentiment(dataset.build(ws, seen, plan.train, plan.horizon), table)
    test = with_sentiment(dataset.build(ws, seen, [train_end], plan.horizon), table)
    covered = test[list(SENTIMENT_FEATURES)].notna().any(axis=1).mean()
    typer.echo(
        f"{len(train):,} training rows, {len(test):,} evaluation rows at {train_end:%Y-%m-%d}; "
        f"{covered:.1%} of evaluated customers have reviewed something"
    )
    variants = {
        "churn features": [],
        "+ sentiment 90/365 d": list(SENTIMENT_FEATURES),
        "+ sentiment 365 d only": [c for c in SENTIMENT_FEATURES if c.endswith("365d")],
    }
    for name, extra in variants.items():
        aucs = []
        for seed in range(seeds):
            x_train = pd.concat([prepare(train), train[extra].astype("float64")], axis=1)
            x_test = pd.concat([prepare(test), test[extra].astype("float64")], axis=1)
            model = fit_lgbm(x_train, train[LABEL].to_numpy(), seed=seed)
            aucs.append(roc_auc_score(test[LABEL].to_numpy(), model.predict_proba(x_test)[:, 1]))
        typer.echo(f"{name:26} AUC {np.mean(aucs):.4f} (seeds: {', '.join(f'{a:.4f}' for a in aucs)})")


if __name__ == "__main__":
    typer.run(main)
