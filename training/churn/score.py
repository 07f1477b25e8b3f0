"""Batch scoring for marketing: every customer known before a date, scored by a registered churn model."""

from __future__ import annotations

import logging

import mlflow.pyfunc
import pandas as pd

from retail.settings import Settings
from retail.workspace import Workspace
from training import tracking
from training.churn import MODEL_NAME, dataset
from training.churn.model import MODEL_INPUT

log = logging.getLogger(__name__)


def score_customers(ws: Workspace, settings: Settings, as_of: pd.Timestamp, alias: str = "champion") -> pd.DataFrame:
    """customer_id, churn_probability for every customer with a transaction before `as_of`."""
    tx = ws.read_transactions()
    ids = dataset.known_customers(tx, pd.Timestamp(as_of))
    if len(ids) == 0:
        raise ValueError(f"no customers are known before {as_of:%Y-%m-%d}")
    tracking.connect(ws, settings)
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{alias}")
    feats = dataset.features_at(ws, pd.DataFrame({"customer_id": ids, "cutoff": pd.Timestamp(as_of)}))
    probs = model.predict(feats[MODEL_INPUT].astype("float64"))["churn_probability"].to_numpy()
    log.info("scored %d customers as of %s", len(ids), f"{as_of:%Y-%m-%d}")
    return pd.DataFrame({"customer_id": feats["customer_id"], "churn_probability": probs})
