"""The demand forecast in money, for the sales page: the stored forecast runs the service answers `/forecast` from.

`/forecast` (`serving.endpoints.demand.score`) answers one series from the run the service stored for its champion
and data date (`training.demand.storage`, source `service`). Summing every product through `score` would cost a
request per product, so the page reads those same stored runs, summed in the database: for each day, the newest
run made before it, P10/P50/P90 units times the run's price (what `/forecast` calls `revenue_p50`). Overrides are
not applied (the forecasts page shows them). Summing quantiles across products makes a band wider than the total's
own band would be; the chart says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from retail import db
from training.demand.tables import ForecastRun, ForecastValue

SOURCE = "service"  # training.demand.adapter.SOURCE: the run every product sold lately is in


@dataclass(frozen=True)
class Forecast:
    days: pd.DataFrame  # ds (date), p10, p50, p90: revenue per day
    note: str | None  # what the figures do not cover (a store filter on a product-level forecast)


_memo: dict[tuple[object, ...], Forecast] = {}
_lock = threading.Lock()


def revenue(engine: Engine, lo: date, hi: date, store_id: str | None) -> Forecast:
    """Forecast revenue per day in `lo`..`hi` (all stores, or `store_id` where runs are per store)."""
    with Session(db.reader(engine)) as s:
        newest = s.scalar(select(func.max(ForecastRun.id)))
    key = (str(engine.url), newest, lo, hi, store_id)
    if key in _memo:
        return _memo[key]
    found = _read(engine, lo, hi, store_id) if newest is not None else Forecast(_EMPTY, None)
    with _lock:
        if len(_memo) > 64:
            _memo.clear()
        _memo[key] = found
    return found


_EMPTY = pd.DataFrame({"ds": [], "p10": [], "p50": [], "p90": []})


def _read(engine: Engine, lo: date, hi: date, store_id: str | None) -> Forecast:
    query = (
        select(
            ForecastRun.id,
            ForecastRun.as_of,
            ForecastRun.level,
            ForecastValue.ds,
            func.sum(ForecastValue.p10 * ForecastValue.price),
            func.sum(ForecastValue.p50 * ForecastValue.price),
            func.sum(ForecastValue.p90 * ForecastValue.price),
        )
        .join(ForecastValue, ForecastValue.run_id == ForecastRun.id)
        .where(ForecastRun.source == SOURCE, ForecastValue.ds >= lo, ForecastValue.ds <= hi)
        .where(ForecastRun.as_of <= ForecastValue.ds)
        .group_by(ForecastRun.id, ForecastRun.as_of, ForecastRun.level, ForecastValue.ds)
    )
    if store_id is not None:  # a store's own rows where runs are per store; the product totals otherwise
        query = query.where((ForecastValue.store_id == store_id) | (ForecastRun.level != "product_store"))
    with Session(db.reader(engine)) as s:
        rows = pd.DataFrame(s.execute(query).all(), columns=["run", "as_of", "level", "ds", "p10", "p50", "p90"])
    if rows.empty:
        return Forecast(_EMPTY, None)
    rows = rows.sort_values(["ds", "as_of", "run"]).drop_duplicates("ds", keep="last")
    note = None
    if store_id is not None and (rows["level"] != "product_store").any():
        note = "The demand forecast is made per product for all stores: its line is every store's, not this store's."
    return Forecast(rows[["ds", "p10", "p50", "p90"]].reset_index(drop=True), note)
