"""Churn batch scoring, what `retail predict churn` writes: every customer known before a day, scored."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from training.churn import dataset
from training.churn.adapter import ChurnAdapter
from training.family import Context

log = logging.getLogger(__name__)


def score(model: Any, version: str, features: pd.DataFrame) -> pd.DataFrame:
    """customer_id, churn_probability, risk_band, driver_1..3 for feature rows that carry their own as_of_day."""
    return ChurnAdapter(model, version, reference_day=0.0).score_frame(features)


def predict(ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
    """customer_id, churn_probability, risk_band and the top drivers for every customer known before as_of."""
    if options:
        raise ValueError(f"churn predictions take no options (got {', '.join(options)})")
    ids = dataset.known_customers(ctx.tx, ctx.as_of)
    if len(ids) == 0:
        raise ValueError(f"no customers are known before {ctx.as_of:%Y-%m-%d}")
    feats = dataset.features_at(ctx.ws, pd.DataFrame({"customer_id": ids, "cutoff": ctx.as_of}))
    scored = score(model, version, feats)
    log.info("scored %d customers as of %s with churn v%s", len(ids), f"{ctx.as_of:%Y-%m-%d}", version)
    return scored
