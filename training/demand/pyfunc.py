"""The registered demand pyfunc: a series history in, P10/P50/P90 for the periods after it out.

It imports no model library itself (the fitted `Forecaster` it wraps does), so batch forecasts and the service's
adapter can check a loaded model's type without loading mlforecast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from training.demand.dataset import Series, Spec
from training.family import Dataset, Packaged

if TYPE_CHECKING:
    from training.demand.choice import Chosen
    from training.demand.model import Forecaster

INPUT = ["unique_id", "ds", "y", "price_ratio", "category", "tier"]
OUTPUT = ["unique_id", "ds", "p10", "p50", "p90"]


class DemandModel(PythonModel):
    """Wraps the fitted forecaster: a `Chosen` (LightGBM plus each series' method, `choice.py`; a plain
    `Forecaster` in versions registered before the choice); `params={"horizon": N}` asks for N periods (default:
    the trained horizon)."""

    def __init__(self, forecaster: Chosen | Forecaster, level: str) -> None:
        self.forecaster = forecaster
        self.level = level

    @property
    def spec(self) -> Spec:
        return self.forecaster.spec

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        missing = [c for c in ("unique_id", "ds", "y") if c not in model_input]
        if missing:
            raise ValueError(f"history lacks column(s) {', '.join(missing)}")
        horizon = int((params or {}).get("horizon") or self.forecaster.spec.horizon)
        history = model_input.assign(ds=pd.to_datetime(model_input["ds"]))
        return self.forecaster.forecast(history, horizon)


def unwrap(model: Any) -> DemandModel:
    """The `DemandModel` inside a loaded pyfunc (or the model itself); a clear error for anything else."""
    inner = model.unwrap_python_model() if hasattr(model, "unwrap_python_model") else model
    if not isinstance(inner, DemandModel):
        raise ValueError(f"not a demand model: {type(inner).__name__}")
    return inner


def package(forecaster: Chosen, data: Dataset) -> Packaged:
    """The family's package stage: the pyfunc, its signature with the horizon parameter, two series as example;
    series per chosen method as `series_<method>` metrics and a `methods` param, the backtest table as an artifact."""
    s: Series = data.train
    pyfunc = DemandModel(forecaster, s.level)
    ids = s.history["unique_id"].drop_duplicates().head(2)
    example = s.history[s.history["unique_id"].isin(ids)].groupby("unique_id").tail(120)[INPUT]
    example = example.assign(category=example["category"].astype(str), tier=example["tier"].astype(str))
    output = pyfunc.predict(None, example, {"horizon": s.spec.horizon})
    counts = forecaster.counts()
    return Packaged(
        pyfunc,
        infer_signature(example, output, params={"horizon": s.spec.horizon}),
        example,
        metrics={"train_rows": float(len(s.history)), "series": float(s.history["unique_id"].nunique())}
        | {f"series_{m.replace('+', '_and_')}": float(n) for m, n in counts.items()},
        params={
            "freq": s.spec.freq,
            "level": s.level,
            "horizon_periods": s.spec.horizon,
            "country": s.spec.country,
            "methods": ", ".join(f"{m} {n}" for m, n in sorted(counts.items())),
        },
        metadata={"freq": s.spec.freq, "level": s.level, "horizon_periods": s.spec.horizon},
    )
