"""What the churn endpoint and batch scoring call: probabilities, risk bands and drivers from feature rows.

Recency and tenure are measured from a reference day: the newest purchase the feature store has seen (the day
after it, as at training cutoffs). Rows pushed to the online store later move that day forward, so a fresher
row is never scored as if it were in the future.

A batch is scored for every customer with features; the others get a status saying why they have no score
(`no_purchases`: a customer with no purchase seen yet; `unknown_customer`: not a customer), never a failed batch.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from features.catalog import CHURN_SERVICE, CUSTOMER_FEATURES
from retail.workspace import Workspace
from training.family import FamilyKey

EPOCH = pd.Timestamp("1970-01-01")
RiskBand = Literal["low", "medium", "high"]
Unscored = Literal["no_purchases", "unknown_customer"]
BANDS: tuple[tuple[RiskBand, float], ...] = (("high", 0.6), ("medium", 0.3), ("low", 0.0))
N_DRIVERS = 3
SCORE_COLUMNS = [
    "customer_id",
    "churn_probability",
    "risk_band",
    *[f"driver_{k + 1}" for k in range(N_DRIVERS)],
    "recency_days",
]


def risk_band(p: float) -> RiskBand:
    """low < 0.3 <= medium < 0.6 <= high."""
    return next(name for name, low in BANDS if p >= low)


def newest_event_day(ws: Workspace) -> float:
    """Days since 1970 of the day after the newest purchase in the customer feature table (0 if none)."""
    path = ws.features_dir / "customer_features.parquet"
    if not path.exists():
        return 0.0
    newest = pd.read_parquet(path, columns=["last_purchase_day"])["last_purchase_day"].max()
    return 0.0 if pd.isna(newest) else float(newest) + 1.0


def why_unscored(customer_ids: Sequence[str], customers: Collection[str]) -> dict[str, Unscored]:
    """Why each customer without features has no score: `customers` are the ids the customers table holds."""
    return {c: "no_purchases" if c in customers else "unknown_customer" for c in customer_ids}


class ChurnAdapter:
    """A loaded churn pyfunc plus the reference day its online rows are scored at."""

    feature_service = CHURN_SERVICE

    def __init__(self, model: Any, version: str, reference_day: float) -> None:
        self.model, self.version = model, version
        self._reference = reference_day
        self._lock = threading.Lock()

    @property
    def reference_date(self) -> pd.Timestamp:
        return EPOCH + pd.Timedelta(days=self._reference)

    def known(self, frame: pd.DataFrame) -> pd.Series:
        """Rows the online store has features for (unknown customers come back all null)."""
        return frame[list(CUSTOMER_FEATURES)].notna().any(axis=1)

    def score_known(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        """Scores of the rows with features (in their order), and the ids of the rows without (each once)."""
        known = self.known(frame).to_numpy()
        missing = list(dict.fromkeys(frame.loc[~known, "customer_id"].astype(str)))
        if not known.any():  # the model is not asked about nothing
            return pd.DataFrame(columns=SCORE_COLUMNS), missing
        return self.score_online(frame[known].reset_index(drop=True)), missing

    def score_online(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score current online rows: the reference day moves forward to the newest purchase they show."""
        newest = frame["last_purchase_day"].max()
        with self._lock:
            if pd.notna(newest):
                self._reference = max(self._reference, float(newest) + 1.0)
            reference = self._reference
        scored = self.score_frame(frame.assign(as_of_day=reference))
        # whole days from the last order to the newest purchase day seen: 0 for an order on that day
        scored["recency_days"] = (reference - 1.0 - frame["last_purchase_day"]).to_numpy()
        return scored

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """customer_id, churn_probability, risk_band, driver_1..3 for rows holding as_of_day and the features."""
        columns = list(self.model.metadata.get_input_schema().input_names())
        out = self.model.predict(frame[columns].astype("float64"))
        probs = np.asarray(out["churn_probability"], dtype="float64")
        result = pd.DataFrame(
            {
                "customer_id": frame["customer_id"].to_numpy(),
                "churn_probability": probs,
                "risk_band": [risk_band(float(p)) for p in probs],
            }
        )
        drivers = list(out["drivers"]) if "drivers" in out else [[] for _ in probs]
        for k in range(N_DRIVERS):
            result[f"driver_{k + 1}"] = [d[k] if len(d) > k else "" for d in drivers]
        return result


KEY: FamilyKey[ChurnAdapter] = FamilyKey("churn")  # `Runtime.adapter(KEY)` is a `ChurnAdapter`
