"""Batch recommendations for campaigns: every customer known before a date, from a registered recommender."""

from __future__ import annotations

import logging
from collections.abc import Callable

import mlflow.pyfunc
import pandas as pd

from retail.settings import Settings
from retail.workspace import Workspace
from training import tracking
from training.recommend import MODEL_NAME
from training.recommend.pyfunc import recommender_of
from training.recommend.recommender import Mode, Recommender

log = logging.getLogger(__name__)


def load_recommender(ws: Workspace, settings: Settings, alias: str = "champion") -> tuple[Recommender, str]:
    """The `Recommender` inside the registered version behind `alias`, and that version."""
    client = tracking.connect(ws, settings)
    version = tracking.alias_version(client, MODEL_NAME, alias)
    if version is None:
        raise ValueError(f"no {MODEL_NAME} version is @{alias}: run `retail train recommender` first")
    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{alias}")
    return recommender_of(loaded, f"{MODEL_NAME}@{alias}"), version


def recommend_customers(
    ws: Workspace,
    settings: Settings,
    as_of: pd.Timestamp | None,
    mode: Mode,
    k: int,
    alias: str = "champion",
    progress: Callable[[str], None] = log.info,
) -> pd.DataFrame:
    """customer_id, rank, product_id, score, reason for every customer who bought before `as_of`.

    `as_of` defaults to the model's own; a model trained on data from `as_of` on is refused.
    """
    recommender, version = load_recommender(ws, settings, alias)
    as_of = recommender.as_of if as_of is None else pd.Timestamp(as_of)
    if recommender.as_of > as_of:
        raise ValueError(
            f"{MODEL_NAME} v{version} learnt from data up to {recommender.as_of:%Y-%m-%d}, after --as-of "
            f"{as_of:%Y-%m-%d}: train one with --as-of {as_of:%Y-%m-%d} or pass a later date"
        )
    tx = ws.read_transactions(["customer_id", "ts", "quantity"])
    bought = tx[(tx["ts"] < as_of) & (tx["quantity"] > 0) & tx["customer_id"].notna()]
    customers = sorted(bought["customer_id"].astype(str).unique())
    if not customers:
        raise ValueError(f"no customers are known before {as_of:%Y-%m-%d}")
    unknown = sum(recommender.customer_index(c) is None for c in customers)
    if unknown:
        log.warning("%d customers first bought after the model's data ends: they get popular products", unknown)
    frame = recommender.recommend_batch(mode, k, customers, progress)
    log.info("%s v%s: %d rows for %d customers (%s)", MODEL_NAME, version, len(frame), len(customers), mode)
    return frame
