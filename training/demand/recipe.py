"""What the demand model reads and how strongly it is smoothed, by frequency and data size.

Weekly series get lags 1-4, 8, 13, 26 and 52 weeks, rolling means over 4, 13 and 52 weeks and last year's same
weeks (a 3-week mean around lag 52), week of year, month and the public holidays in the week; monthly series get
lags 1-3, 6 and 12 months, 3- and 12-month means, last year's month, month of year and the holidays in the month;
quarters and years the same idea, shorter. Daily features are `model._features`' own (tuned on Online Retail).
Lags and windows that the history cannot feed are dropped (`trim`), so short series still fit.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import holidays
import numpy as np
import pandas as pd
from mlforecast.lag_transforms import ExponentiallyWeightedMean, RollingMean

from training.demand import frequency

log = logging.getLogger(__name__)
OF_THE_YEAR = {"_week_of_year", "month", "quarter"}  # date features a model must have seen a year of
MIN_LEAF_SHARE = 0.005  # a leaf holds 0.5% of the rows in day-equivalents (rows x days a period spans)


def holiday_days(country: str, period: str, dates: pd.DatetimeIndex) -> np.ndarray:
    """Public holidays of `country` in each date's period: `week_from` (the date and the six days after),
    `week_to` (the six days before and the date), or a month/quarter/year alias the date starts (`MS`) or ends
    (`ME`)."""
    dates = pd.DatetimeIndex(dates)
    if period in ("week_from", "week_to"):
        starts = dates if period == "week_from" else dates - pd.Timedelta(days=6)
        ends = starts + pd.Timedelta(days=7)
    else:
        span = pd.DateOffset(months={"M": 1, "Q": 3, "Y": 12}[frequency.kind(period)])
        if period.endswith("S"):
            starts, ends = dates, dates + span
        else:
            ends = dates + pd.Timedelta(days=1)
            starts = ends - span
    years = range(int(starts.year.min()), int(ends.year.max()) + 1)
    calendar = np.array(sorted(holidays.country_holidays(country, years=years)), dtype="datetime64[D]")
    first = np.searchsorted(calendar, starts.to_numpy().astype("datetime64[D]"))
    return (np.searchsorted(calendar, ends.to_numpy().astype("datetime64[D]")) - first).astype(np.float64)


def _named(func: Any, name: str) -> Any:
    func.__name__ = name  # mlforecast names a date feature after its function
    return func


def features(freq: str, country: str, week_of_year: Any) -> dict[str, Any]:
    """mlforecast's lags, lag transforms and date features for weekly, monthly, quarterly or yearly series."""
    kind = frequency.kind(freq)
    if kind == "W":
        return {
            "lags": [1, 2, 3, 4, 8, 13, 26, 52],
            "lag_transforms": {
                1: [RollingMean(4), RollingMean(13), RollingMean(52), ExponentiallyWeightedMean(0.3)],
                51: [RollingMean(3)],  # weeks 51-53 ago: last year's same week, with its neighbours
            },
            "date_features": [
                week_of_year,
                "month",
                _named(partial(holiday_days, country, "week_from"), "holidays_week_from"),
                _named(partial(holiday_days, country, "week_to"), "holidays_week_to"),
            ],
        }
    holidays_in = _named(partial(holiday_days, country, frequency.offset(freq)), "holidays_in_period")
    if kind == "M":
        return {
            "lags": [1, 2, 3, 6, 12],
            "lag_transforms": {1: [RollingMean(3), RollingMean(12)], 11: [RollingMean(3)]},
            "date_features": ["month", holidays_in],
        }
    if kind == "Q":
        return {"lags": [1, 2, 4], "lag_transforms": {1: [RollingMean(4)]}, "date_features": ["quarter", holidays_in]}
    return {"lags": [1, 2], "lag_transforms": {1: [RollingMean(3)]}, "date_features": [holidays_in]}


def _reach(lag: int, transform: Any) -> int:
    """Periods of history a transform of `lag` reads back (the lag, then its window, seasonal or not)."""
    window = int(getattr(transform, "window_size", 1))
    return lag + int(getattr(transform, "season_length", 1)) * (window - 1)


def trim(recipe: dict[str, Any], room: int, unit: str, whole_year: bool = True) -> dict[str, Any]:
    """`recipe` without the lags and windows that `room` periods of history cannot feed.

    A lag (or window) is kept when at least a quarter of the history (4 periods at least) is left to learn from
    after it; lag 1 is always kept. Without `whole_year` of history the position in the year (week of year,
    month, quarter) goes too: the model would meet the horizon's weeks for the first time (on Online Retail's
    weeks, 39 of history, WAPE 0.726 with them, 0.668 without). What is dropped is logged.
    """
    dated = [f for f in recipe["date_features"] if whole_year or _name(f) not in OF_THE_YEAR]
    need = max(4, room // 4)
    lags = [lag for lag in recipe["lags"] if lag == 1 or room - lag >= need]
    transforms = {
        lag: kept
        for lag, listed in recipe["lag_transforms"].items()
        if (kept := [t for t in listed if room - _reach(lag, t) >= need])
    }
    dropped = [f"lag {lag}" for lag in recipe["lags"] if lag not in lags]
    dropped += [
        f"{type(t).__name__}({getattr(t, 'window_size', '')}) of lag {lag}"
        for lag, listed in recipe["lag_transforms"].items()
        for t in listed
        if t not in transforms.get(lag, [])
    ]
    dropped += [_name(f) for f in recipe["date_features"] if f not in dated]
    if dropped:
        log.info("%d %ss of history before the calibration windows: dropped %s", room, unit, ", ".join(dropped))
    return recipe | {"lags": lags, "lag_transforms": transforms, "date_features": dated}


def _name(feature: Any) -> str:
    return feature if isinstance(feature, str) else str(getattr(feature, "__name__", feature))


def settings(freq: str, rows: int) -> dict[str, Any]:
    """LightGBM settings for `rows` rows (series x their length) at `freq`.

    - `min_child_samples`: 0.5% of the rows counted in days (rows x days per period), at least 20: the smoothing
      chosen on daily Online Retail (850 rows a leaf there), loosened where each row already sums a week or a month.
    - `num_leaves`: 15 (tuned on Online Retail; 31 made no difference on a generated weekly set), 7 below 2,000
      rows.
    - `n_estimators`: 600 at rate 0.025, 300 below 5,000 rows (small sets overfit sooner).

    On a generated weekly set (300 series, 130 weeks, yearly season and trend; 13 weeks ahead) the leaf of 0.5% of
    the rows (195) scored WAPE 0.120, the day-equivalent one (27) 0.100, seasonal naive 0.121.
    """
    leaf = max(20, int(rows * MIN_LEAF_SHARE / frequency.days(freq)))
    out = {"min_child_samples": leaf, "num_leaves": 7 if rows < 2000 else 15}
    return out | {"n_estimators": 300 if rows < 5000 else 600}
