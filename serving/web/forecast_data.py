"""What the forecasts page reads beside the API's functions, cached by what invalidates it.

The forecast, overrides and accuracy come from `serving.endpoints.demand` (the API's functions). This module
adds what no endpoint answers, each computed once per loaded model (a reload makes a new adapter) or per data
date: the catalogue the forecast knows (products, their categories and stores), past units sold per series (the
chart's history) and revenue by category and month (`training.demand.batch.revenue_by_category_month`, the
function `retail predict demand` writes its finance file with). Accuracy is cached until an override changes or
a forecast run is stored.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import func, select

from serving.endpoints.demand import AccuracyResponse, accuracy
from serving.endpoints.errors import Rejected
from serving.runtime import Runtime
from training.demand import batch, dataset, frequency, storage
from training.demand.adapter import DemandAdapter
from training.demand.tables import AuditEntry, ForecastRun

log = logging.getLogger(__name__)
T = TypeVar("T")
HISTORY_PERIODS = 56  # past periods drawn before the forecast
_cache: dict[tuple[Any, ...], Any] = {}
_lock = threading.Lock()


def _cached(key: tuple[Any, ...], make: Callable[[], T], keep: int = 16) -> T:
    """`make()` once per `key` (the few newest kept)."""
    with _lock:
        if key in _cache:
            return _cache[key]  # type: ignore[no-any-return]
    value = make()
    with _lock:
        while len(_cache) >= keep:
            _cache.pop(next(iter(_cache)))
        _cache[key] = value
    return value


@dataclass(frozen=True)
class Catalogue:
    """Products the forecast knows, busiest first (by P50 over the horizon), with category and stores."""

    products: pd.DataFrame  # product_id, category, units (P50 over the horizon)
    stores: dict[str, list[str]]  # product_id -> its store ids ([] at product level)

    @property
    def categories(self) -> list[str]:
        return sorted(self.products["category"].unique())

    def of(self, category: str | None) -> pd.DataFrame:
        return self.products if not category else self.products[self.products["category"] == category]


def _version(adapter: DemandAdapter) -> tuple[Any, ...]:
    return (str(adapter.ws.root), adapter.version, str(adapter.as_of), id(adapter))


def catalogue(adapter: DemandAdapter) -> Catalogue:
    def make() -> Catalogue:
        frame = adapter.frame.reset_index()
        totals = frame[frame["store_id"] == ""].groupby("product_id")["p50"].sum().rename("units").reset_index()
        categories = dataset.read_attributes(adapter.ws).set_index("product_id")["category"]
        totals["category"] = totals["product_id"].map(categories).fillna("unknown").astype(str)
        totals = totals.sort_values(["units", "product_id"], ascending=[False, True]).reset_index(drop=True)
        stores = frame[frame["store_id"] != ""].groupby("product_id")["store_id"].unique()
        return Catalogue(totals, {str(p): sorted(map(str, s)) for p, s in stores.items()})

    return _cached(("catalogue", *_version(adapter)), make)


def _sales(adapter: DemandAdapter, level: str) -> pd.Series:
    """Units sold per (product_id, store_id, ds) in the recent past, sorted for fast look-ups."""

    def make() -> pd.Series:
        days = HISTORY_PERIODS * round(frequency.days(adapter.freq))
        sales = dataset.read_sales(adapter.ws, level)
        sales = sales[(sales["ds"] < adapter.as_of) & (sales["ds"] >= adapter.as_of - pd.Timedelta(days=days))]
        store = sales["store_id"].astype(str) if level == "product_store" else ""
        units = sales.assign(store_id=store).groupby(["product_id", "store_id", "ds"])["units"].sum()
        return units.sort_index()

    return _cached(("sales", level, *_version(adapter)), make)


def history(adapter: DemandAdapter, product_id: str, store_id: str) -> pd.DataFrame:
    """`ds, units`: units sold per period of the forecast's frequency over the past periods (zeros included)."""
    level = "product_store" if store_id else "product"
    units = _sales(adapter, level)
    try:
        series = units.loc[(product_id, store_id)]
    except KeyError:
        series = pd.Series(dtype="float64")
    step = round(frequency.days(adapter.freq))  # (months: 30-day steps back from as_of)
    starts = [adapter.as_of - pd.Timedelta(days=step * k) for k in range(HISTORY_PERIODS, 0, -1)]
    frame = pd.DataFrame({"ds": pd.to_datetime(series.index), "units": series.to_numpy(dtype="float64")})
    offset = (adapter.as_of - frame["ds"]).dt.days
    frame["period"] = adapter.as_of - pd.to_timedelta(step * ((offset + step - 1) // step), unit="D")
    per = frame.groupby("period")["units"].sum()
    return pd.DataFrame({"ds": starts, "units": [float(per.get(s, 0.0)) for s in starts]})


REVENUE_COLUMNS = ["category", "month", "revenue_p10", "revenue_p50", "revenue_p90"]


def revenue(adapter: DemandAdapter) -> list[dict[str, Any]]:
    """Revenue P10, P50 and P90 at list price by category and month over the stored forecast (product totals)."""

    def make() -> list[dict[str, Any]]:
        frame = adapter.frame.reset_index()
        frame = frame[frame["store_id"] == ""]
        for q in ("p10", "p50", "p90"):
            frame = frame.assign(**{f"revenue_{q}": frame[q] * frame["price"]})
        table = batch.revenue_by_category_month(frame, dataset.read_attributes(adapter.ws))
        table[REVENUE_COLUMNS[2:]] = table[REVENUE_COLUMNS[2:]].round(2)
        return [{k: r[k] for k in REVENUE_COLUMNS} for r in table.to_dict("records")]

    return _cached(("revenue", *_version(adapter)), make)


def _stamp(rt: Runtime) -> tuple[Any, ...]:
    """What accuracy depends on besides the dates: the newest override change and the newest stored run."""
    with storage.reading(rt.ws, rt.settings) as s:
        audited = s.scalar(select(func.max(AuditEntry.id)).where(AuditEntry.entity == "forecast_override"))
        run = s.scalar(select(func.max(ForecastRun.id)))
    return audited, run


def judged(rt: Runtime, adapter: DemandAdapter, since: date) -> AccuracyResponse | Rejected:
    """`accuracy(rt, since)` (the API's GET /forecast/accuracy), or why there is none, cached."""

    def make() -> AccuracyResponse | Rejected:
        try:
            return accuracy(rt, since)
        except Rejected as exc:
            return exc

    return _cached(("accuracy", str(since), *_version(adapter), *_stamp(rt)), make)
