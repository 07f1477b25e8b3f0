"""Demand batch forecasts, what `retail predict demand` writes and the service answers from: model quantiles as of
a date, planners' adjusted values and revenue at list price."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from features.sales import DAY
from retail import db
from retail.workspace import Workspace
from training.demand import covariates, dataset, frequency, storage
from training.demand.pyfunc import INPUT, DemandModel, unwrap
from training.family import Context

log = logging.getLogger(__name__)
PRICE_DAYS = 90


def prices(ws: Workspace, sales: pd.DataFrame, end: pd.Timestamp) -> pd.Series:
    """List price per product, else its average selling price over the 90 days before `end`."""
    recent = sales[(sales["ds"] < end) & (sales["ds"] >= end - DAY * PRICE_DAYS)]
    totals = recent.groupby("product_id")[["revenue", "units"]].sum()
    selling = totals["revenue"] / totals["units"].where(totals["units"] > 0)
    listed = dataset.read_attributes(ws).set_index("product_id")["list_price"]
    return listed.where(listed > 0).combine_first(selling).rename("price")


def model_forecast(
    ws: Workspace,
    as_of: pd.Timestamp,
    model: Any,
    level: str,
    horizon: int,
    products: list[str] | None = None,
    progress: Callable[[str], None] = log.info,
    future: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`product_id[, store_id], ds, p10, p50, p90, price` for `horizon` periods from `as_of`.

    `products` defaults to every product sold in the 90 days before `as_of`. `future` is a plan (`product_id[,
    store_id], ds`, `price` or `price_ratio`, ...): then `planned` marks the periods it changes and `p50_usual` is
    the P50 without it.
    """
    inner = unwrap(model)
    sales = dataset.read_sales(ws, inner.level)
    products = products or dataset.recent_products(sales, as_of)
    known = set(sales.loc[sales["ds"] < as_of, "product_id"].astype(str))
    unknown = sorted(set(products) - known)
    if unknown:
        raise ValueError(f"product_id: no sales before {as_of:%Y-%m-%d} for {', '.join(unknown[:10])}")
    ids = list(sales.loc[sales["product_id"].isin(products), "unique_id"].unique())
    history = dataset.frame(sales, dataset.read_attributes(ws), as_of, inner.spec.freq, ids)
    progress(f"demand: forecasting {len(ids):,} series for {horizon} periods from {as_of:%Y-%m-%d}")
    names = dataset.keys(inner.level)
    if future is None:
        pred = model.predict(history[INPUT], params={"horizon": horizon})
    else:
        pred = _planned(
            inner, history[INPUT], history[["unique_id", *names]], horizon, future, prices(ws, sales, as_of)
        )
    out = pred.merge(history.drop_duplicates("unique_id")[["unique_id", *names]], on="unique_id")
    keys = dataset.keys(level)
    values = [c for c in ("p10", "p50", "p90", "p50_usual", "planned") if c in out]
    out = out.groupby([*keys, "ds"], as_index=False)[values].sum()  # bottom-up to the level asked
    if "planned" in out:
        out["planned"] = out["planned"] > 0
    out["price"] = out["product_id"].map(prices(ws, sales, as_of)).fillna(0.0)
    return out.sort_values([*keys, "ds"]).reset_index(drop=True)


def forecast(ctx: Context, model: Any, version: str, options: dict[str, Any]) -> pd.DataFrame:
    """`product_id[, store_id], ds, p10, p50, p90, adjusted, override_id` and revenue at list price of each.

    The forecast is stored in the application database (for accuracy tracking) and `adjusted` applies the
    planners' overrides in force.
    """
    inner = unwrap(model)
    level = options.get("level") or inner.level
    if level == "product_store" and inner.level == "product":
        raise ValueError(f"demand v{version} forecasts products, not stores: train it with --level product_store")
    days = int(options.get("horizon_days") or round(inner.spec.horizon * frequency.days(inner.spec.freq)))
    horizon = dataset.periods(pd.Timedelta(days=days), inner.spec.freq)
    future = options.get("future")
    out = model_forecast(ctx.ws, ctx.as_of, model, level, horizon, options.get("products"), ctx.progress, future)
    with db.session(ctx.ws, ctx.settings) as s:  # stored for accuracy tracking, with the overrides in force
        storage.store_run(s, out, version, ctx.as_of, level, inner.spec.freq, "predict")
        out = storage.adjust(out, storage.active_overrides(s, list(out["product_id"].unique())))
    if future is not None:
        for line in _overrides_on_plan(out):
            ctx.progress(line)
    for q in ("p10", "p50", "p90"):
        out[f"revenue_{q}"] = out[q] * out["price"]
    out["revenue_adjusted"] = out["adjusted"] * out.pop("price")
    return out


def _planned(
    inner: DemandModel,
    history: pd.DataFrame,
    series: pd.DataFrame,
    horizon: int,
    plan: pd.DataFrame,
    usual_price: pd.Series,
) -> pd.DataFrame:
    """The forecast with the plan applied, `planned` where it changes a covariate, and `p50_usual` without it."""
    forecaster = inner.forecaster
    usual = forecaster.usual
    planned = covariates.plan(plan, series, usual_price, list(usual))
    out = forecaster.forecast(history, horizon, future=planned)
    columns = [c for c in planned if c in usual]
    values, normal = planned[columns].to_numpy(), np.array([usual[c] for c in columns])
    changed = ~np.isclose(values, normal, rtol=1e-6, atol=0.0).all(axis=1)  # a price as a CSV writes it
    marks = planned.loc[changed, covariates.KEYS].assign(planned=True)
    out = out.merge(marks, on=covariates.KEYS, how="left")
    out["planned"] = out["planned"].eq(True)
    ids = out.loc[out["planned"], "unique_id"].unique()
    out["p50_usual"] = out["p50"]
    if len(ids):
        base = forecaster.forecast(history[history["unique_id"].isin(ids)], horizon)[[*covariates.KEYS, "p50"]]
        base = out[covariates.KEYS].merge(base, on=covariates.KEYS, how="left")["p50"]
        out["p50_usual"] = base.fillna(out["p50"]).to_numpy()
    log.info("planned covariates change %d forecast periods of %d series", int(out["planned"].sum()), len(ids))
    return out


def _overrides_on_plan(out: pd.DataFrame) -> list[str]:
    """What a planner should know: overrides in force over planned periods, and the model's lift there."""
    hit = out[out["planned"] & out["override_id"].notna()]
    lines = []
    for override_id, rows in hit.groupby("override_id"):
        lift = rows["p50"].sum() / rows["p50_usual"].sum() if rows["p50_usual"].sum() > 0 else float("nan")
        lines.append(
            f"override {override_id} ({rows['product_id'].iloc[0]}) covers {len(rows)} planned period(s), where the "
            f"P50 now carries the plan (x{lift:.2f} the usual forecast): revert it if it stood for this promotion"
        )
    return lines


def revenue_by_category_month(frame: pd.DataFrame, attributes: pd.DataFrame) -> pd.DataFrame:
    """Finance's view: revenue P50 and the P10-P90 range by category and month."""
    cats = attributes.set_index("product_id")["category"]
    grouped = frame.assign(
        category=frame["product_id"].map(cats).fillna("unknown"), month=frame["ds"].dt.strftime("%Y-%m")
    )
    return grouped.groupby(["category", "month"], as_index=False)[["revenue_p10", "revenue_p50", "revenue_p90"]].sum()
