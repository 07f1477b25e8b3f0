"""Churn training sets: Feast point-in-time features at each cutoff, labels from the horizon after it."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from features import store
from features.catalog import CHURN_SERVICE, CUSTOMER_FEATURES
from retail.workspace import Workspace
from training.churn.options import ChurnOptions
from training.family import Context, Dataset, Split
from training.splits import plan_cutoffs

log = logging.getLogger(__name__)
EPOCH = pd.Timestamp("1970-01-01")
LABEL = "churned"


def purchases(tx: pd.DataFrame) -> pd.DataFrame:
    """Customer purchase lines (positive quantity, known customer): what 'buying' means for churn."""
    return tx.loc[(tx["quantity"] > 0) & tx["customer_id"].notna(), ["customer_id", "ts"]]


def known_customers(tx: pd.DataFrame, cutoff: pd.Timestamp) -> np.ndarray:
    """Customers with any transaction strictly before the cutoff."""
    return np.sort(tx.loc[(tx["ts"] < cutoff) & tx["customer_id"].notna(), "customer_id"].unique())


def labels(tx: pd.DataFrame, cutoff: pd.Timestamp, horizon: pd.Timedelta) -> pd.DataFrame:
    """Customers who bought before the cutoff; churned = no purchase in [cutoff, cutoff + horizon)."""
    bought = purchases(tx)
    before = bought.loc[bought["ts"] < cutoff, "customer_id"].unique()
    window = bought[(bought["ts"] >= cutoff) & (bought["ts"] < cutoff + horizon)]
    active = set(window["customer_id"].unique())
    frame = pd.DataFrame({"customer_id": np.sort(before)})
    frame[LABEL] = (~frame["customer_id"].isin(active)).astype("int8")
    frame["cutoff"] = cutoff
    return frame


def features_at(ws: Workspace, entities: pd.DataFrame) -> pd.DataFrame:
    """Point-in-time customer features for (customer_id, cutoff) rows, in the rows' own order."""
    entity_df = pd.DataFrame(
        {"customer_id": entities["customer_id"].to_numpy(), "event_timestamp": entities["cutoff"].to_numpy()}
    )
    joined = store.historical_features(ws, entity_df, CHURN_SERVICE)
    joined["cutoff"] = pd.to_datetime(joined["event_timestamp"], utc=True).dt.tz_localize(None)
    joined = joined.drop(columns="event_timestamp")
    out = entities[["customer_id", "cutoff"]].merge(joined, on=["customer_id", "cutoff"], how="left")
    out["as_of_day"] = ((out["cutoff"] - EPOCH) / pd.Timedelta(days=1)).astype("float64")
    return out[["customer_id", "cutoff", "as_of_day", *CUSTOMER_FEATURES]]


def build(ws: Workspace, tx: pd.DataFrame, cutoffs: list[pd.Timestamp], horizon: pd.Timedelta) -> pd.DataFrame:
    """Features and labels for every cutoff stacked; each row uses only data from before its cutoff."""
    labelled = pd.concat([labels(tx, c, horizon) for c in cutoffs], ignore_index=True)
    frame = features_at(ws, labelled)
    frame[LABEL] = labelled[LABEL].to_numpy()
    log.info(
        "churn dataset: %d rows over %d cutoffs, churn rate %.3f",
        len(frame),
        len(cutoffs),
        frame[LABEL].mean() if len(frame) else float("nan"),
    )
    return frame


def for_split(ctx: Context, split: Split, options: ChurnOptions) -> Dataset:
    """The family's dataset stage: weekly training cutoffs whose labels end by `split.train_end`; the evaluation
    rows at `split.train_end` itself (the evaluation fit only)."""
    horizon_days = split.horizon.days
    plan = plan_cutoffs(
        split.train_end + split.horizon, horizon_days, options.cutoffs, options.step_days, ctx.tx["ts"].min()
    )
    ctx.progress(f"churn training cutoffs {plan.train[0]:%Y-%m-%d} .. {plan.train[-1]:%Y-%m-%d}")
    train = build(ctx.ws, ctx.tx, plan.train, plan.horizon)
    if train[LABEL].nunique() < 2:
        raise ValueError("training labels have a single class: more history or a different horizon is needed")
    params: dict[str, Any] = {
        "train_cutoffs": ",".join(f"{c:%Y-%m-%d}" for c in plan.train),
        "train_rows": len(train),
    }
    test = None
    if split.test_end is not None:
        test = build(ctx.ws, ctx.tx, [split.train_end], plan.horizon)
        params["eval_rows"] = len(test)
    return Dataset(split, train, test, params)
