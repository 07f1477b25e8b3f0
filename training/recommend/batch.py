"""Batch recommendations for campaigns: every customer known before a date, from a registered recommender."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd

from retail.settings import Settings
from retail.workspace import Workspace
from training.recommend import MODEL_NAME
from training.recommend.pyfunc import recommender_of
from training.recommend.recommender import Mode, Recommender

log = logging.getLogger(__name__)


def load_recommender(ws: Workspace, settings: Settings, alias: str = "champion") -> tuple[Recommender, str]:
    """The `Recommender` inside the registered version behind `alias`, and that version."""
    from training import run

    loaded, version = run.load(ws, settings, MODEL_NAME, alias)
    return recommender_of(loaded, f"{MODEL_NAME}@{alias}"), version


def recommend_customers(
    recommender: Recommender,
    version: str,
    tx: pd.DataFrame,
    as_of: pd.Timestamp,
    mode: Mode,
    k: int,
    progress: Callable[[str], None] = log.info,
) -> pd.DataFrame:
    """customer_id, rank, product_id, score, reason for every customer who bought before `as_of`.

    A model that learnt from data on or after `as_of` is refused.
    """
    if recommender.as_of > as_of:
        raise ValueError(
            f"{MODEL_NAME} v{version} learnt from data up to {recommender.as_of:%Y-%m-%d}, after --as-of "
            f"{as_of:%Y-%m-%d}: train one with --as-of {as_of:%Y-%m-%d} or pass a later date"
        )
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
