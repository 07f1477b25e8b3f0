"""Known-future covariates of the demand model: price, promotion, feature and display flags.

A history frame may carry numeric columns besides `unique_id, ds, y` (and the ids and static attributes a
workspace frame holds): each is a covariate the model learns from, and the fitted model keeps their names with
their usual values. A forecast needs them over the horizon: a `future` frame `unique_id, ds, <covariates>` gives
the planned ones. What it lacks is the usual value, named in a warning: the price ratio's is 1.0 (the usual
price), any other covariate's its median over the fit's history (0 for a flag set on fewer than half the periods).
A future column the model never saw is refused; future rows outside the horizon are ignored and counted.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from features.contract import DataError
from features.importers import CSV_LINE_OFFSET, read_file

log = logging.getLogger(__name__)
KEYS = ["unique_id", "ds"]
PRICE = "price_ratio"
# what a workspace frame carries besides covariates: keys, target, ids and the products' static attributes
NOT_COVARIATES = frozenset({"unique_id", "ds", "y", "product_id", "store_id", "category", "tier", "list_price"})
DAY = pd.Timedelta(days=1)
LEGACY = {PRICE: 1.0}  # what a model fitted before covariates were named read


def numeric(values: pd.Series) -> pd.Series | None:
    """The column as float64 (booleans 0/1, blanks missing), or None if a value is not a number."""
    if pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.CategoricalDtype):
        return None
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    parsed = pd.to_numeric(values, errors="coerce")
    if (parsed.isna() & values.notna()).any():
        return None
    return parsed.astype("float64")


def names(frame: pd.DataFrame) -> list[str]:
    """The covariates a history frame carries: its numeric columns besides keys, target, ids and attributes."""
    return [str(c) for c in frame.columns if c not in NOT_COVARIATES and numeric(frame[c]) is not None]


def usual_values(frame: pd.DataFrame, columns: list[str]) -> dict[str, float]:
    """What each covariate is when nothing is planned: 1.0 for the price ratio, else its median in `frame`."""
    usual: dict[str, float] = {}
    for column in columns:
        values = numeric(frame[column])
        median = float(values.median()) if values is not None else np.nan
        usual[column] = 1.0 if column == PRICE else (0.0 if np.isnan(median) else median)
    return usual


def history(frame: pd.DataFrame, usual: dict[str, float]) -> pd.DataFrame:
    """The covariate columns of a history frame as float64; a missing column or blank is its usual value."""
    out = pd.DataFrame(index=frame.index)
    absent = [c for c in usual if c not in frame]
    if absent:
        log.warning("the history lacks covariate(s) %s: their usual value is assumed", ", ".join(absent))
    for column, value in usual.items():
        if column not in frame:
            out[column] = value
            continue
        values = numeric(frame[column])
        if values is None:
            raise ValueError(f"covariate {column}: the history holds a value that is not a number")
        out[column] = values.fillna(value)
    return out


def future(
    grid: pd.DataFrame,
    planned: pd.DataFrame | None,
    usual: dict[str, float],
    price_ratio: float = 1.0,
    freq: str | None = None,
) -> pd.DataFrame:
    """`grid` (`unique_id, ds` of the horizon) with each covariate: as planned where `planned` has it, else usual.

    `price_ratio` is the usual value of the price ratio for this forecast (0.8: 20% off wherever nothing is
    planned). A planned column the model never saw is an error naming it. With `freq` (the periods' alias), a
    plan dated by day for longer periods (weeks, months) counts for the period holding each day (`_by_period`).
    """
    defaults = usual | ({PRICE: float(price_ratio)} if PRICE in usual else {})
    out = grid[KEYS].reset_index(drop=True)
    if planned is None:
        return out.assign(**defaults)
    planned = _checked(planned, usual)
    if freq is not None:
        planned = _by_period(planned, out, freq, defaults)
    merged = out.merge(planned, on=KEYS, how="left", indicator=True)
    matched = int((merged.pop("_merge") == "both").sum())
    if matched < len(planned):
        log.warning("ignored %d planned row(s) outside the forecast horizon", len(planned) - matched)
    filled = []
    for column, value in defaults.items():
        if column not in planned:
            filled.append(f"{column} (not planned)")
            out[column] = value
            continue
        blank = merged[column].isna()
        if blank.any():
            filled.append(f"{column} ({int(blank.sum())} of {len(out)} periods)")
        out[column] = merged[column].fillna(value).to_numpy()
    if filled:
        log.warning("the usual value is assumed for %s", ", ".join(filled))
    return out


def _by_period(planned: pd.DataFrame, grid: pd.DataFrame, freq: str, defaults: dict[str, float]) -> pd.DataFrame:
    """A plan dated off the period stamps (days of a weekly or monthly forecast) as one row per period.

    Each period's value is the mean over its days, a day the plan leaves out at the usual value: how a week's
    price ratio is made from its days. A plan dated on the stamps is kept as it is.
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    if offset is None or all(offset.is_on_offset(d) for d in planned["ds"].drop_duplicates()):
        return planned
    periods = grid.assign(start=grid["ds"], end=grid["ds"] + offset)
    if isinstance(offset, pd.offsets.MonthEnd | pd.offsets.QuarterEnd | pd.offsets.YearEnd):  # stamped on the last day
        periods = periods.assign(start=grid["ds"] - offset + DAY, end=grid["ds"] + DAY)
    rows = planned.merge(periods.rename(columns={"ds": "stamp"}), on="unique_id")
    rows = rows[(rows["ds"] >= rows["start"]) & (rows["ds"] < rows["end"])]
    if len(rows) < len(planned):
        log.warning("ignored %d planned row(s) outside the forecast horizon", len(planned) - len(rows))
    columns = [c for c in planned.columns if c not in KEYS]
    groups = rows.groupby(["unique_id", "stamp", "start", "end"])[columns]
    sums, counts = groups.sum(), groups.count()
    days = np.array([(end - start).days for *_, start, end in sums.index], dtype="float64")[:, None]
    usual = np.array([defaults[c] for c in columns])
    means = (sums.to_numpy() + (days - counts.to_numpy()) * usual) / days
    out = pd.DataFrame(means, columns=columns, index=sums.index).reset_index()
    return out.drop(columns=["start", "end"]).rename(columns={"stamp": "ds"})


def check_columns(planned: pd.DataFrame, known: list[str], keys: list[str] = KEYS) -> None:
    """Refuse a planned column the model was not (or will not be) trained with, naming it."""
    unknown = [str(c) for c in planned.columns if c not in keys and c not in known]
    if unknown:
        raise ValueError(
            f"future column {unknown[0]!r}: the model was not trained with it (its covariates: "
            f"{', '.join(known) or 'none'}); add it to the history to learn its effect"
        )


def _checked(planned: pd.DataFrame, usual: dict[str, float]) -> pd.DataFrame:
    missing = [c for c in KEYS if c not in planned]
    if missing:
        raise ValueError(f"the future frame lacks column(s) {', '.join(missing)}")
    check_columns(planned, list(usual))
    out = planned.assign(unique_id=planned["unique_id"].astype(str), ds=pd.to_datetime(planned["ds"]))
    duplicated = out.duplicated(KEYS)
    if duplicated.any():
        row = out[duplicated].iloc[0]
        raise ValueError(f"the future frame repeats (unique_id, ds) ({row['unique_id']}, {row['ds']:%Y-%m-%d})")
    for column in out.columns.difference(KEYS):
        values = numeric(out[column])
        if values is None:
            raise ValueError(f"future column {column!r} holds a value that is not a number")
        out[column] = values
    return out


def read_future(
    path: Path, keys: tuple[str, ...] = ("unique_id", "ds"), optional: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A future file (CSV or parquet): the `keys` (and any `optional` key) columns, `ds` a date, every other
    column a number. Each problem is a `DataError` naming the file, row (CSV: line) and column."""
    frame = read_file(path)
    missing = [c for c in keys if c not in frame]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}", file=path.name, column=missing[0])
    keys = (*keys, *[c for c in optional if c in frame])
    offset = CSV_LINE_OFFSET if path.suffix != ".parquet" else None

    def error(problem: str, bad: pd.Series, column: str) -> DataError:
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 1
        value = frame[column].iloc[row - 1]
        line = row + offset if offset is not None else None
        return DataError(f"{problem}: {value!r}", file=path.name, row=row, column=column, line=line)

    out = pd.DataFrame(index=frame.index)
    for key in [k for k in keys if k != "ds"]:
        blank = frame[key].isna() | (frame[key].astype(str).str.strip() == "")
        if blank.any():
            raise error("empty", blank, key)
        out[key] = frame[key].astype(str).str.strip()
    ds = pd.to_datetime(frame["ds"], errors="coerce")
    if ds.isna().any():
        raise error("not a date", ds.isna(), "ds")
    out["ds"] = ds
    repeated = out.duplicated(list(keys))
    if repeated.any():
        raise error(f"repeated ({', '.join(keys)})", repeated, "ds")
    for column in [c for c in frame.columns if c not in keys]:
        parsed = pd.to_numeric(frame[column], errors="coerce")
        bad = parsed.isna() & frame[column].notna() | ~np.isfinite(parsed.fillna(0.0))
        if bad.any():
            raise error("not a number", bad, str(column))
        out[str(column)] = parsed.astype("float64")
    return out.reset_index(drop=True)


def plan(planned: pd.DataFrame, series: pd.DataFrame, usual_price: pd.Series, known: list[str]) -> pd.DataFrame:
    """A planner's file (`product_id[, store_id], ds`, `price` or `price_ratio`, flags) as a `future` frame.

    `series` maps each forecast `unique_id` to its `product_id` (and `store_id`); a plan without stores applies to
    every store of the product. A `price` becomes the price ratio against `usual_price` (per product); `known` are
    the model's covariates (any other column is refused).
    """
    if "price" in planned and PRICE in planned:
        raise ValueError("give one of price and price_ratio in the future file, not both")
    if "store_id" in planned and "store_id" not in series:
        raise ValueError(
            "store_id: the model forecasts products, not stores (drop the column or train with --level product_store)"
        )
    out = planned.copy()
    if "price" in out:
        usual = out["product_id"].map(usual_price)
        lacking = out.loc[usual.isna() | (usual <= 0), "product_id"]
        if len(lacking):
            raise ValueError(f"price: no usual price known for product {lacking.iloc[0]} (give price_ratio)")
        if (out["price"] <= 0).any():
            raise ValueError(f"price must be positive, got {out.loc[out['price'] <= 0, 'price'].iloc[0]}")
        out[PRICE] = out.pop("price") / usual.to_numpy()
    check_columns(out, known, ["product_id", "store_id", "ds"])
    on = [k for k in ("product_id", "store_id") if k in out]
    merged = out.merge(series.drop_duplicates("unique_id"), on=on, how="inner")
    ignored = len(out) - len(out.merge(series[on].drop_duplicates(), on=on, how="inner"))
    if ignored:
        log.warning("ignored %d planned row(s) of series not forecast", ignored)
    columns = [c for c in out.columns if c not in ("product_id", "store_id", "ds")]
    return merged[[*KEYS, *columns]].reset_index(drop=True)


def history_columns(raw: pd.DataFrame, out: pd.DataFrame) -> pd.DataFrame:
    """`out` (a series table read from `raw`) with `raw`'s numeric extra columns: the covariates it carries."""
    extra = [c for c in raw.columns if c not in out.columns and c not in NOT_COVARIATES]
    kept = []
    for column in extra:
        values = numeric(raw[column])
        if values is None:
            log.info("history column %s is not numeric: not a covariate", column)
            continue
        out[str(column)] = values.to_numpy()
        kept.append(str(column))
    if kept:
        log.info("covariates in the history: %s", ", ".join(kept))
    return out
