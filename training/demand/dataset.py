"""Forecasting frames (`unique_id, ds, y, price_ratio, category, tier`) from the Feast daily sales views, and the
dataset stage: one fit's series with the `Spec` they are modelled with (frequency, horizon, holiday country).

The views' own definitions say where their rows live and which fields they hold, so training, batch
forecasts and the service read the same tables. Days without sales are zero from the first day of the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import holidays
import pandas as pd

from features.catalog import ENTITY_KEYS
from features.sales import DAY
from retail.workspace import Workspace
from training.demand import frequency
from training.demand.options import DemandOptions
from training.family import Context, Dataset, Split

LEVELS: tuple[str, ...] = ("product", "product_store")
SEP = "@"  # unique_id of a product x store series: "<product_id>@<store_id>"


class _PerFreq:
    """`SEASON[freq]`, `FREQS[freq]` for any alias `frequency` accepts (older call sites; new code calls it)."""

    def __init__(self, read: Callable[[str], Any]) -> None:
        self._read = read

    def __getitem__(self, freq: str) -> Any:
        return self._read(freq)


FREQS = _PerFreq(frequency.offset)  # weekly workspace series are stamped on the first day of their week
SEASON = _PerFreq(frequency.season)


@dataclass(frozen=True)
class Spec:
    """What shapes the features: frequency, horizon (in periods), holiday country, interval calibration."""

    freq: str = "D"
    horizon: int = 28
    country: str = "GB"
    interval_windows: int = 2
    lgbm: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "freq", frequency.offset(frequency.parse(self.freq, allow_auto=False)))
        if self.horizon < 1:
            raise ValueError(f"horizon must be at least 1 period, got {self.horizon}")
        if self.country not in holidays.list_supported_countries():
            raise ValueError(f"unknown holiday country {self.country!r}: use an ISO code such as GB or DE")


@dataclass
class Series:
    """One fit's series, how to model them, and (for the evaluation) the backtest origins."""

    history: pd.DataFrame
    spec: Spec
    level: str
    origins: list[pd.Timestamp]


def periods(horizon: pd.Timedelta, freq: str) -> int:
    """The horizon in periods of `freq` (whole weeks for weekly series, 28-31 days a month for monthly ones)."""
    return frequency.periods(horizon, freq)


def workspace_freq(freq: str) -> str:
    """The alias of a workspace's series for `--freq` (`W`: weeks from Monday)."""
    return frequency.workspace(freq)


def keys(level: str) -> list[str]:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    return ["product_id", "store_id"] if level == "product_store" else ["product_id"]


def _view_table(ws: Workspace, view: Any) -> pd.DataFrame:
    """A feature view's rows as its definition declares them (keys, fields); the timestamp as `known_at`."""
    source = view.batch_source
    path = (ws.feature_repo / source.path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `retail features build` first")
    keys = [ENTITY_KEYS[e] for e in view.entities]
    fields = [f.name for f in view.features if f.name not in keys]  # (Feast adds entity columns once applied)
    columns = [*keys, source.timestamp_field, *fields]
    return pd.read_parquet(path, columns=columns).rename(columns={source.timestamp_field: "known_at"})


def read_sales(ws: Workspace, level: str) -> pd.DataFrame:
    """Daily sales rows of the level's view, with `ds` (the day) and `unique_id`."""
    from features.repo import definitions  # lazy: the definitions import Feast (seconds), needed only here

    view = definitions.product_store_daily_sales if level == "product_store" else definitions.product_daily_sales
    table = _view_table(ws, view)
    if table.empty:
        raise ValueError(
            "the data has no sales" + (" by store: use --level product" if level == "product_store" else "")
        )
    table["ds"] = table.pop("known_at") - DAY
    table["unique_id"] = _unique_ids(table, level)
    return table


def read_attributes(ws: Workspace) -> pd.DataFrame:
    """category, tier and list_price per product (from the product attributes view)."""
    from features.repo import definitions  # lazy: the definitions import Feast (seconds), needed only here

    return _view_table(ws, definitions.product_attributes).drop(columns="known_at")


def _unique_ids(frame: pd.DataFrame, level: str) -> pd.Series:
    if level == "product_store":
        return frame["product_id"].astype(str) + SEP + frame["store_id"].astype(str)
    return frame["product_id"].astype(str)


def period_end(end: pd.Timestamp, freq: str) -> pd.Timestamp:
    """Where whole periods before `end` stop: `end` for days, the week's first day on or before it for weeks
    (Monday for `W`), the first of its month for months."""
    alias = workspace_freq(freq)
    if alias == "MS":
        return end.to_period("M").start_time
    if alias.startswith("W-"):
        return end - DAY * ((end.dayofweek - frequency.WEEKDAYS.index(alias[2:])) % 7)
    return end


def frame(
    sales: pd.DataFrame,
    attributes: pd.DataFrame,
    end: pd.Timestamp,
    freq: str = "D",
    ids: list[str] | None = None,
) -> pd.DataFrame:
    """Zero-filled series up to (not including) `end`: daily, or whole weeks (from Monday for `W`, from the
    anchor's day for `W-SUN` etc.) or whole calendar months (`MS`) before it, stamped on their first day."""
    end = period_end(end, freq)
    rows = sales[sales["ds"] < end]
    if ids is not None:
        rows = rows[rows["unique_id"].isin(ids)]
    if rows.empty:
        raise ValueError(f"no sales before {end:%Y-%m-%d} for the series asked")
    start = sales["ds"].min()  # every series from the first day of the data: no sale is a zero, not a gap
    grid = pd.MultiIndex.from_product(
        [rows["unique_id"].unique(), pd.date_range(start, end - DAY)], names=["unique_id", "ds"]
    )
    daily = rows.set_index(["unique_id", "ds"])[["units", "price_ratio"]].reindex(grid).reset_index()
    daily["y"] = daily.pop("units").fillna(0.0).astype("float64")
    daily["price_ratio"] = _known_price(daily)
    if workspace_freq(freq) != "D":
        daily = _periods(daily, workspace_freq(freq))
    ids_frame = rows.drop_duplicates("unique_id")[["unique_id", *[k for k in ("product_id", "store_id") if k in rows]]]
    out = daily.merge(ids_frame, on="unique_id").merge(attributes, on="product_id", how="left")
    out[["category", "tier"]] = out[["category", "tier"]].fillna("unknown")
    return out.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def _known_price(daily: pd.DataFrame) -> pd.Series:
    """Price against the usual one as known at the start of each day: the last sale's (1.0 before any).

    A day's own average price is known only if something sold, so it would tell the model the day sold.
    """
    previous = daily.groupby("unique_id")["price_ratio"].shift(1)
    return previous.groupby(daily["unique_id"]).ffill().fillna(1.0).astype("float64")


def _periods(daily: pd.DataFrame, alias: str) -> pd.DataFrame:
    """Sum units over weeks (`W-XXX`: from that weekday) or calendar months (`MS`), stamped on their first day;
    a partial first period is dropped."""
    if alias == "MS":
        start, length = daily["ds"].dt.to_period("M").dt.start_time, daily["ds"].dt.days_in_month
    else:
        start = daily["ds"] - DAY * ((daily["ds"].dt.dayofweek - frequency.WEEKDAYS.index(alias[2:])) % 7)
        length = pd.Series(7, index=daily.index)
    daily = daily.assign(ds=start, n=1, length=length)
    out = daily.groupby(["unique_id", "ds"], as_index=False).agg(
        y=("y", "sum"), price_ratio=("price_ratio", "mean"), n=("n", "sum"), length=("length", "first")
    )
    return out[out["n"] == out["length"]].drop(columns=["n", "length"])


def top_series(sales: pd.DataFrame, end: pd.Timestamp, n: int) -> list[str]:
    """The `n` series with the most units before `end` (what training fits on)."""
    totals = sales[sales["ds"] < end].groupby("unique_id")["units"].sum()
    return list(totals.nlargest(n).index)


def recent_products(sales: pd.DataFrame, end: pd.Timestamp, days: int = 90) -> list[str]:
    """Products sold in the `days` before `end` (what a batch forecast covers by default)."""
    recent = sales[(sales["ds"] < end) & (sales["ds"] >= end - DAY * days)]
    return sorted(recent["product_id"].astype(str).unique())


def for_split(ctx: Context, split: Split, options: DemandOptions) -> Dataset:
    """The family's dataset stage: the `options.series` busiest series before `split.train_end`, zero-filled up to
    it (and, for the evaluation fit, the periods up to `split.test_end` as test rows), with the backtest origins."""
    alias = workspace_freq(options.freq)
    h = periods(split.horizon, alias)
    spec = Spec(alias, h, options.country or ctx.settings.holiday_country)
    sales = read_sales(ctx.ws, options.level)
    ids = top_series(sales, split.train_end, options.series)
    end = split.test_end or split.train_end
    history = frame(sales, read_attributes(ctx.ws), end, alias, ids)
    cut = period_end(split.train_end, alias)  # whole periods only
    origins = [cut - frequency.step(alias) * (h * k) for k in reversed(range(options.origins))]
    train = history[history["ds"] < cut]
    params: dict[str, Any] = {"series": history["unique_id"].nunique(), "train_rows": len(train)}
    test = None
    if split.test_end is not None:
        test = history[history["ds"] >= cut]
        params |= {"origins": ",".join(f"{o:%Y-%m-%d}" for o in origins), "eval_rows": len(test)}
    return Dataset(split, Series(train, spec, options.level, origins), test, params)
