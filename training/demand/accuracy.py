"""How stored forecasts did against what sold: WAPE and bias of the model and of the adjusted values.

For each series and day since `since`, the forecast judged is the newest stored run made before that day.
`value_added` is the model's WAPE minus the adjusted values' WAPE: positive when planners' overrides helped.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from retail.settings import Settings
from retail.workspace import Workspace
from training import tracking
from training.demand import dataset, frequency, storage

log = logging.getLogger(__name__)


@dataclass
class Accuracy:
    since: pd.Timestamp
    until: pd.Timestamp
    overall: dict[str, float]
    by: dict[str, pd.DataFrame]  # "product", "category", "store" -> one row per value


def _summary(rows: pd.DataFrame) -> dict[str, float]:
    total = float(rows["y"].abs().sum())
    scale = total or np.nan
    model_wape = float((rows["y"] - rows["p50"]).abs().sum() / scale)
    adjusted_wape = float((rows["y"] - rows["adjusted"]).abs().sum() / scale)
    return {
        "rows": float(len(rows)),
        "units": total,
        "model_wape": model_wape,
        "adjusted_wape": adjusted_wape,
        "model_bias": float((rows["p50"] - rows["y"]).sum() / scale),
        "adjusted_bias": float((rows["adjusted"] - rows["y"]).sum() / scale),
        "value_added": model_wape - adjusted_wape,
    }


def _table(rows: pd.DataFrame, key: str) -> pd.DataFrame:
    table = pd.DataFrame({k: _summary(g) for k, g in rows.groupby(key, observed=True)}).T
    table.index.name = key
    return table.reset_index().sort_values("units", ascending=False).reset_index(drop=True)


def measure(ws: Workspace, settings: Settings, since: pd.Timestamp) -> Accuracy:
    """Stored forecasts for days in [since, end of data) against actual units."""
    until = pd.Timestamp(ws.read_meta().get("data_end") or pd.Timestamp.now()).floor("D")
    if since >= until:
        raise ValueError(f"--since {since:%Y-%m-%d} is not before the end of the data ({until:%Y-%m-%d})")
    with storage.reading(ws, settings) as s:  # a read transaction: it never takes the write lock
        stored = storage.stored_values(s, since, until)
        if stored.empty:
            raise ValueError(f"no stored forecasts for days from {since:%Y-%m-%d}: run `retail predict demand` first")
        stored = storage.adjust(stored, storage.active_overrides(s, list(stored["product_id"].unique())))
    actual = _actuals(ws, stored)
    rows = stored.merge(actual, on=["product_id", "store_id", "ds"], how="left").fillna({"y": 0.0})
    categories = dataset.read_attributes(ws).set_index("product_id")["category"]
    rows["category"] = rows["product_id"].map(categories).fillna("unknown")
    rows["store"] = rows["store_id"].replace("", "all stores")
    by = {"product": _table(rows, "product_id"), "category": _table(rows, "category"), "store": _table(rows, "store")}
    return Accuracy(since, until, _summary(rows), by)


def _actuals(ws: Workspace, stored: pd.DataFrame) -> pd.DataFrame:
    """Units sold per stored series and day (daily or in the stored weeks)."""
    parts = []
    levels = stored["store_id"].ne("").map({True: "product_store", False: "product"})
    for (level, freq), rows in stored.groupby([levels, stored["freq"]]):
        sales = dataset.read_sales(ws, str(level))
        sales = sales.assign(store_id=sales["store_id"] if level == "product_store" else "")
        daily = sales.groupby(["product_id", "store_id", "ds"], as_index=False)["units"].sum()
        parts.append(_to_periods(daily, rows, frequency.step(str(freq))))
    return pd.concat(parts, ignore_index=True)


def _to_periods(daily: pd.DataFrame, stored: pd.DataFrame, span: pd.DateOffset) -> pd.DataFrame:
    """Daily units summed into the stored periods, each `span` from its stamp (a weekly row: its day and six after)."""
    starts = stored[["product_id", "store_id", "ds"]].drop_duplicates().sort_values("ds")
    daily = daily.sort_values("ds")
    merged = pd.merge_asof(
        daily, starts.rename(columns={"ds": "period"}), left_on="ds", right_on="period", by=["product_id", "store_id"]
    )
    merged = merged[merged["period"].notna() & (merged["ds"] < merged["period"] + span)]
    out = merged.groupby(["product_id", "store_id", "period"], as_index=False)["units"].sum()
    return out.rename(columns={"period": "ds", "units": "y"})


def log_to_mlflow(ws: Workspace, settings: Settings, result: Accuracy) -> str:
    """One run in the `demand-accuracy` experiment: overall figures as metrics, the tables as CSV artifacts."""
    tracking.connect(ws, settings)
    experiment = tracking.experiment(ws, "demand-accuracy")
    with mlflow.start_run(experiment_id=experiment, run_name=f"accuracy-since-{result.since:%Y%m%d}") as run:
        mlflow.log_params({"since": f"{result.since:%Y-%m-%d}", "until": f"{result.until:%Y-%m-%d}"})
        mlflow.log_metrics(result.overall)
        with tempfile.TemporaryDirectory() as tmp:
            for name, table in result.by.items():
                path = Path(tmp) / f"by_{name}.csv"
                table.to_csv(path, index=False)
                mlflow.log_artifact(str(path), "accuracy")
    return run.info.run_id
