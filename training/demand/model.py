"""The registered demand pyfunc: a series history in, P10/P50/P90 for the periods after it out."""

from __future__ import annotations

from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from training.demand.forecaster import Forecaster

INPUT = ["unique_id", "ds", "y", "price_ratio", "category", "tier"]
OUTPUT = ["unique_id", "ds", "p10", "p50", "p90"]


class DemandModel(PythonModel):
    """Wraps a fitted `Forecaster`; `params={"horizon": N}` asks for N periods (default: the trained horizon)."""

    def __init__(self, forecaster: Forecaster, level: str) -> None:
        self.forecaster = forecaster
        self.level = level

    @property
    def spec(self):
        return self.forecaster.spec

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        missing = [c for c in ("unique_id", "ds", "y") if c not in model_input]
        if missing:
            raise ValueError(f"history lacks column(s) {', '.join(missing)}")
        horizon = int((params or {}).get("horizon") or self.forecaster.spec.horizon)
        history = model_input.assign(ds=pd.to_datetime(model_input["ds"]))
        return self.forecaster.forecast(history, horizon)
