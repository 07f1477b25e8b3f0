"""Demand frequencies: which pandas offset aliases a forecast takes, how a series' own frequency is found, and what
follows from it (season length, period span, horizon in periods, gaps and duplicates).

Accepted: `D`; `W` (weekly; the weekday is taken from the data) and `W-MON` .. `W-SUN`; `MS` / `ME` (`M`);
`QS` / `QE` (`Q`); `YS` / `YE` (`Y`); and `auto` (infer all of it from the dates). Hours and business days are
refused: demand here is counted per day at the finest.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)
AUTO = "auto"
WEEKDAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_FAMILIES = {"D": "D", "W": "W", "MS": "M", "ME": "M", "QS": "Q", "QE": "Q", "YS": "Y", "YE": "Y"}
_OLD = {"M": "ME", "Q": "QE", "Y": "YE", "A": "YE", "AS": "YS", "BA": "YE"}  # pandas' older spellings
SEASON = {"D": 7, "W": 52, "M": 12, "Q": 4, "Y": 1}
WINDOW = {"D": 28, "W": 4, "M": 3, "Q": 4, "Y": 3}  # the moving-average baseline: 4 weeks, a month, a quarter, a year
NAME = {"D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}
_DAYS = {"D": (1, 1), "W": (7, 7), "M": (28, 31), "Q": (89, 92), "Y": (365, 366)}  # days one period spans
EXAMPLES = "D, W (weekday from the data), W-MON .. W-SUN, MS, ME, QS, QE, YS, YE or auto"
SHOWN = 5  # series and dates named in a gap or duplicate message
WORKSPACE = "D, W (weeks from Monday), W-MON .. W-SUN (weeks from that day) or MS (calendar months)"


def parse(value: str, allow_auto: bool = True) -> str:
    """`value` as a canonical alias (`m` -> `ME`, `w-fri` -> `W-FRI`, `W` kept: its weekday comes from the data)."""
    text = str(value).strip()
    if allow_auto and text.lower() == AUTO:
        return AUTO
    alias = _OLD.get(text.upper(), text.upper())
    if alias in _FAMILIES or (alias.startswith("W-") and alias[2:] in WEEKDAYS):
        return alias
    raise ValueError(f"--freq {value!r} is not a demand frequency: use {EXAMPLES if allow_auto else EXAMPLES[:-8]}")


def workspace(freq: str) -> str:
    """The alias of a workspace's series for `--freq`: days, weeks stamped on their first day, calendar months."""
    alias = offset(parse(freq, allow_auto=False))
    if alias != "D" and not alias.startswith("W-") and alias != "MS":
        raise ValueError(f"--freq {freq!r}: a workspace's series are {WORKSPACE}")
    return alias


def stored(freq: str) -> str:
    """The alias in the forecast table's four characters: weeks as `W` (their span is what accuracy reads)."""
    return "W" if kind(freq) == "W" else freq


def kind(freq: str) -> str:
    """`D`, `W`, `M`, `Q` or `Y`: the family of a parsed alias."""
    return "W" if freq.startswith("W") else _FAMILIES[parse(freq, allow_auto=False)]


def season(freq: str) -> int:
    """Periods in one season: a week of days, a year of weeks, months or quarters (1 for years)."""
    return SEASON[kind(freq)]


def window(freq: str) -> int:
    """Periods the moving-average baseline averages (28 days, 4 weeks, 3 months, 4 quarters, 3 years)."""
    return WINDOW[kind(freq)]


def name(freq: str) -> str:
    return NAME[kind(freq)]


def offset(freq: str) -> str:
    """The alias statsforecast and mlforecast step by (`W` alone: weeks stamped on Mondays, as the workspace's)."""
    return "W-MON" if freq == "W" else parse(freq, allow_auto=False)


def step(freq: str) -> pd.DateOffset:
    """One period, from its stamp: `stamp + step(freq)` is the next period's first day for start-stamped periods."""
    months = {"M": 1, "Q": 3, "Y": 12}.get(kind(freq))
    return pd.DateOffset(months=months) if months else pd.DateOffset(days=_DAYS[kind(freq)][0])


def days(freq: str) -> float:
    """The average length of one period in days (7 for weeks, 30.4 for months)."""
    low, high = _DAYS[kind(freq)]
    return 365.25 / 12 * {"M": 1, "Q": 3, "Y": 12}[kind(freq)] if low != high else float(low)


def periods(horizon: pd.Timedelta, freq: str) -> int:
    """`--horizon-days` in whole periods of `freq`; a horizon that is not whole periods is refused."""
    low, high = _DAYS[kind(freq)]
    n = max(1, round(horizon.days / days(freq)))
    if not low * n <= horizon.days <= high * n:
        unit = name(freq)
        example = ", ".join(str(round(days(freq) * k)) for k in (1, 2, 3))
        raise ValueError(
            f"--horizon-days {horizon.days} is not whole {unit}s for --freq {freq} "
            f"(a {unit} is {low}{'' if low == high else f'-{high}'} days: e.g. {example})"
        )
    return n


def infer(frame: pd.DataFrame) -> str:
    """The frequency of `unique_id, ds` rows: the modal step between a series' dates (gaps do not change it),
    with the weekday of weekly dates and the month start or end of monthly ones."""
    dates = frame[["unique_id", "ds"]].drop_duplicates().sort_values(["unique_id", "ds"])
    gaps = dates.groupby("unique_id", observed=True)["ds"].diff().dropna().dt.days
    if gaps.empty:
        raise ValueError("--freq auto: every series has a single date; say the frequency with --freq")
    modal = int(gaps.mode().iloc[0])
    ds = dates["ds"]
    if modal == 1:
        return "D"
    if modal == 7:
        return weekly(frame)
    for family, (low, high) in (("M", (28, 31)), ("Q", (89, 92)), ("Y", (365, 366))):
        if low <= modal <= high:
            if (ds.dt.day == 1).all() and ds.dt.month.isin(_starts(family)).all():
                return f"{family}S"
            if ds.dt.is_month_end.all():
                return f"{family}E"
            raise ValueError(
                f"--freq auto: dates about a {NAME[family]} apart fall on different days of the month "
                f"(first: {ds.iloc[0]:%Y-%m-%d}): stamp each {NAME[family]} on its first or last day"
            )
    raise ValueError(f"--freq auto: the usual step between dates is {modal} days; say the frequency with --freq")


def _starts(family: str) -> list[int]:
    return {"Q": [1, 4, 7, 10], "Y": [1]}.get(family, list(range(1, 13)))


def weekly(frame: pd.DataFrame) -> str:
    """`W-XXX` for weekly dates: the weekday most of them fall on."""
    weekday = int(frame["ds"].dt.dayofweek.mode().iloc[0])
    return f"W-{WEEKDAYS[weekday]}"


def resolve(frame: pd.DataFrame, freq: str) -> str:
    """The concrete alias for a user's series: `auto` inferred, `W` given its weekday, others as parsed."""
    alias = parse(freq)
    if alias == AUTO:
        found = infer(frame)
        log.info("frequency inferred from the dates: %s", found)
        return found
    return weekly(frame) if alias == "W" else alias


def _count(rows: pd.DataFrame, verb: tuple[str, str]) -> str:
    """`1 series has` / `3 series have`."""
    n = rows["unique_id"].nunique()
    return f"{n} series {verb[0] if n == 1 else verb[1]}"


def _named(rows: pd.DataFrame) -> str:
    """`A (2026-01-02, 2026-01-09), B (...)`: the first few series and their first few dates."""
    parts = []
    for uid, group in list(rows.groupby("unique_id", observed=True, sort=True))[:SHOWN]:
        shown = ", ".join(f"{d:%Y-%m-%d}" for d in group["ds"].iloc[:SHOWN])
        parts.append(f"{uid} ({shown}{', ...' if len(group) > SHOWN else ''})")
    more = rows["unique_id"].nunique() - SHOWN
    return "; ".join(parts) + (f"; and {more} more series" if more > 0 else "")


def regular(frame: pd.DataFrame, freq: str, fill_gaps: bool = False) -> tuple[pd.DataFrame, str]:
    """`frame` (`unique_id, ds, y`, maybe covariates) checked to hold one row per series and period of `freq`.

    Duplicates and dates off the frequency's grid are refused naming series and dates; missing periods inside a
    series are refused too, unless `fill_gaps`: then they become rows with `y` 0 (other columns carried forward).
    Returns the frame (sorted) and the concrete alias.
    """
    alias = resolve(frame, freq)
    off = pd.tseries.frequencies.to_offset(offset(alias))
    assert off is not None
    repeated = frame[frame.duplicated(["unique_id", "ds"], keep=False)]
    if not repeated.empty:
        raise ValueError(
            f"{_count(repeated, ('has', 'have'))} repeated dates (one row per series and date): "
            f"{_named(repeated.drop_duplicates(['unique_id', 'ds']))}"
        )
    off_grid = frame[~_on_grid(frame["ds"], alias)]
    if not off_grid.empty:
        raise ValueError(
            f"{_count(off_grid, ('has', 'have'))} dates that are not on --freq {alias}: "
            f"{_named(off_grid)}; use the frequency the dates follow (or --freq auto)"
        )
    data = frame.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    full = _full_grid(data, off)
    missing = full.merge(data[["unique_id", "ds"]], how="left", indicator=True).query("_merge == 'left_only'")
    if missing.empty:
        return data, alias
    if not fill_gaps:
        raise ValueError(
            f"{_count(missing, ('misses', 'miss'))} {len(missing):,} {name(alias)}s between their first and "
            f"last date (--freq {alias}): {_named(missing)}; add them, or pass --fill-gaps to count them as zero "
            f"sales{_hint(frame, alias)}"
        )
    log.info(
        "filled %d missing %ss of %d series with zero sales", len(missing), name(alias), missing["unique_id"].nunique()
    )
    filled = full.merge(data, on=["unique_id", "ds"], how="left")
    filled["y"] = filled["y"].fillna(0.0)
    others = [c for c in filled.columns if c not in ("unique_id", "ds", "y")]
    if others:
        filled[others] = filled.groupby("unique_id", observed=True)[others].ffill()
    return filled, alias


def _hint(frame: pd.DataFrame, alias: str) -> str:
    """`; the dates look like --freq W-FRI` where the dates follow another frequency than the one given."""
    try:
        found = infer(frame)
    except ValueError:
        return ""
    return f"; the dates look like --freq {found}" if found != alias else ""


def _on_grid(ds: pd.Series, alias: str) -> np.ndarray:
    """Whether each date is a period stamp of `alias` (midnight, and the right weekday or day of the month)."""
    ok = ds == ds.dt.normalize()
    if alias.startswith("W-"):
        ok &= ds.dt.dayofweek == WEEKDAYS.index(alias[2:])
    elif alias.endswith("S") and kind(alias) in "MQY":
        ok &= (ds.dt.day == 1) & ds.dt.month.isin(_starts(kind(alias)))
    elif kind(alias) in "MQY":
        ends = {"M": ds.dt.is_month_end, "Q": ds.dt.is_quarter_end, "Y": ds.dt.is_year_end}
        ok &= ends[kind(alias)]
    return np.asarray(ok, dtype=bool)


def _full_grid(data: pd.DataFrame, off: pd.DateOffset) -> pd.DataFrame:
    """Every period from each series' first date to its last."""
    bounds = data.groupby("unique_id", observed=True, sort=False)["ds"].agg(["min", "max"])
    parts = [
        pd.DataFrame({"unique_id": uid, "ds": pd.date_range(lo, hi, freq=off)}) for uid, lo, hi in bounds.itertuples()
    ]
    return pd.concat(parts, ignore_index=True)
