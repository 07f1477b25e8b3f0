"""The demand model: one global LightGBM over every series, built with Nixtla's mlforecast.

Frames are `unique_id, ds, y` plus `price_ratio` (price against the product's usual price; 1.0 when nothing
sold) and the static `category` and `tier`. Lags, rolling means, calendar and public-holiday features come from
mlforecast; P10/P90 come from backtest errors (see `Intervals`).
The same code fits a workspace's series and any `(unique_id, ds, y)` table a data scientist brings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import holidays
import lightgbm as lgb
import numpy as np
import pandas as pd
from mlforecast import MLForecast
from mlforecast.lag_transforms import (
    ExponentiallyWeightedMean,
    RollingMean,
    RollingQuantile,
    SeasonalRollingMean,
    SeasonalRollingQuantile,
)
from mlforecast.target_transforms import GlobalSklearnTransformer
from sklearn.preprocessing import FunctionTransformer

from training.demand import covariates, frequency, recipe
from training.demand.dataset import Spec

log = logging.getLogger(__name__)
STATIC = ["category", "tier"]
LGBM: dict[str, Any] = {
    "objective": "l1",  # the median: WAPE is an absolute error, and order sizes are heavy-tailed
    "n_estimators": 600,  # at a low rate: the same backtest error as 300 at 0.05, a tenth of the seed spread
    "learning_rate": 0.025,
    "num_leaves": 15,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "verbosity": -1,
    "n_jobs": 1,  # on a shared 2-core machine one thread is several times faster than two fighting for cores
}


def _holiday_flag(country: str, dates: pd.DatetimeIndex) -> np.ndarray:
    calendar = holidays.country_holidays(country, years=sorted(set(dates.year)))
    return np.fromiter((d in calendar for d in dates.date), dtype=np.float64, count=len(dates))


def _week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    return dates.isocalendar().week.to_numpy().astype(np.float64)


def _features(spec: Spec, length: int | None = None) -> dict[str, Any]:
    """Lags, windows and calendar for `spec.freq` (daily: as tuned on Online Retail; others: `recipe`), trimmed
    to what series of `length` periods can feed before their calibration windows."""
    chosen = _frequency_features(spec)
    if length is None:
        return chosen
    room = length - spec.interval_windows * spec.horizon
    year = frequency.kind(spec.freq) == "D" or length >= frequency.season(spec.freq)  # (daily: as tuned)
    return recipe.trim(chosen, room, frequency.name(spec.freq), whole_year=year)


def _frequency_features(spec: Spec) -> dict[str, Any]:
    holiday = partial(_holiday_flag, spec.country)
    holiday.__name__ = "holiday"  # type: ignore[attr-defined]  # mlforecast names the feature after it
    if frequency.kind(spec.freq) == "D":
        return {
            "lags": [1, 7, 14, 28],
            "lag_transforms": {
                1: [RollingMean(7), RollingMean(28), ExponentiallyWeightedMean(0.1), RollingQuantile(0.5, 28)],
                # the same weekday over the last weeks: each product's own weekday profile (chosen on the inner
                # backtest origins of Online Retail, where it beat the plain means at both)
                7: [
                    RollingMean(7),
                    RollingMean(28),
                    SeasonalRollingMean(season_length=7, window_size=4),
                    SeasonalRollingQuantile(p=0.5, season_length=7, window_size=8),
                ],
                28: [RollingMean(28)],
            },
            "date_features": ["dayofweek", "month", "day", holiday],
        }
    return recipe.features(spec.freq, spec.country, _week_of_year)


MIN_LEAF_SHARE = recipe.MIN_LEAF_SHARE  # a leaf holds 0.5% of the rows (in days): chosen on Online Retail


def signed_sqrt(y: np.ndarray) -> np.ndarray:
    return np.sign(y) * np.sqrt(np.abs(y))


def signed_square(z: np.ndarray) -> np.ndarray:
    """The inverse of `signed_sqrt`; a model output within 1e-6 of zero is zero (not 1e-45 units in an answer)."""
    return np.where(np.abs(z) < 1e-6, 0.0, np.sign(z) * np.square(z))


def make(spec: Spec, rows: int, seed: int = 0, lengths: pd.Series | None = None) -> MLForecast:
    """An unfitted forecaster for `spec`, to be fitted on about `rows` rows (of series with `lengths` periods).

    Leaf size, leaves and trees follow the rows and the frequency (`recipe.settings`: on daily
    Online Retail 0.5% of the rows a leaf, 15 leaves, 600 trees); lags longer than the median series can feed
    are dropped (`recipe.trim`). The model learns the square root of the target (signed, so returns do not break
    it): the median is the same on either scale, but on the raw scale such large L1 leaves never reached the best
    sellers' days (on Online Retail no product was forecast above ~62 units a day, where some sold 100-330).
    """
    sized = recipe.settings(spec.freq, rows)
    model = lgb.LGBMRegressor(**(LGBM | sized | spec.lgbm | {"random_state": seed}))
    root = GlobalSklearnTransformer(FunctionTransformer(signed_sqrt, signed_square, check_inverse=False))
    length = int(lengths.median()) if lengths is not None else None
    chosen = _features(spec, length)
    return MLForecast(models={"lgbm": model}, freq=frequency.offset(spec.freq), target_transforms=[root], **chosen)


def prepare(frame: pd.DataFrame, usual: dict[str, float] | None = None) -> pd.DataFrame:
    """The columns the model reads, with defaults for what a plain `(unique_id, ds, y)` table lacks.

    Covariates are `usual`'s keys (a fitted model's), else every numeric column the frame carries (`covariates`).
    """
    out = frame[["unique_id", "ds", "y"]].copy()
    out["y"] = out["y"].astype("float64")
    for column in STATIC:
        out[column] = frame[column].astype(str) if column in frame else "unknown"
        out[column] = out[column].astype("category")
    usual = covariates.usual_values(frame, covariates.names(frame)) if usual is None else usual
    out[list(usual)] = covariates.history(frame, usual)
    return out.sort_values(["unique_id", "ds"]).reset_index(drop=True)


class Intervals:
    """P10 and P90 from two LightGBM quantile models fitted on backtest forecasts.

    Each reads what is known when the forecast is made: the P50, the series' recent mean, the step ahead and
    the weekday. Fitted on every series' backtest rows, they give intermittent series an honest band (a P50 of
    zero with a P90 above it) and work for series the fit never saw. Where many days sell nothing, a P10 of zero
    covers every such day, so the band would hold more than 80% of outcomes; the upper model's level is then
    lowered until the band holds 80% of the backtest rows.
    """

    UPPER_LEVELS = (0.9, 0.875, 0.85, 0.825, 0.8, 0.775, 0.75)

    def __init__(self, rows: pd.DataFrame, seed: int = 0) -> None:
        params: dict[str, Any] = {"n_estimators": 150, "learning_rate": 0.05, "num_leaves": 15, "n_jobs": 1}
        leaf = min(100, max(5, len(rows) // 20))  # 100 from 2,000 backtest rows; small sets still split
        params |= {"min_child_samples": leaf, "verbosity": -1, "random_state": seed, "objective": "quantile"}
        x, y = rows[BAND_INPUT], rows["y"].to_numpy()
        low = lgb.LGBMRegressor(alpha=0.1, **params).fit(x, y)
        below = y >= np.asarray(low.predict(x)).clip(min=0.0)
        best: tuple[float, float, Any] = (np.inf, 0.9, None)
        for level in self.UPPER_LEVELS:
            high = lgb.LGBMRegressor(alpha=level, **params).fit(x, y)
            coverage = float(np.mean(below & (y <= np.asarray(high.predict(x)).clip(min=0.0))))
            if abs(coverage - 0.8) < best[0]:
                best = (abs(coverage - 0.8), level, high)
            if coverage <= 0.8:
                break
        self.upper_level = best[1]
        self.models = {"p10": low, "p90": best[2]}

    def apply(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = rows[BAND_INPUT]
        low, high = (np.asarray(self.models[q].predict(x), dtype="float64") for q in ("p10", "p90"))
        return low.clip(min=0.0), high.clip(min=0.0)


BAND_INPUT = ["p50", "scale", "step", "weekday"]


def _band_rows(frame: pd.DataFrame, history: pd.DataFrame, scale_periods: int) -> pd.DataFrame:
    """What the interval models read, for forecast rows (`unique_id, ds, p50`) made after `history`."""
    last = history.groupby("unique_id", observed=True)["ds"].max()
    rank = frame.groupby("unique_id", observed=True).cumcount() + 1
    scale = frame["unique_id"].map(_scale(history, scale_periods)).fillna(0.0)
    return frame.assign(
        scale=scale.to_numpy(),
        step=rank.to_numpy().astype("float64"),
        weekday=_season_position(frame["ds"], history),
        last=frame["unique_id"].map(last),
    )


def _season_position(ds: pd.Series, history: pd.DataFrame) -> np.ndarray:
    """Where each date sits in its season, by the history's frequency: the weekday of days, the week of the year
    of weeks, the month of months (the interval models' `weekday` input)."""
    try:
        kind = frequency.kind(frequency.infer(history))
    except ValueError:  # single dates or irregular steps: the weekday, as for days
        kind = "D"
    position = {"W": lambda: ds.dt.isocalendar().week, "M": lambda: ds.dt.month, "Q": lambda: ds.dt.quarter}
    return np.asarray(position.get(kind, lambda: ds.dt.dayofweek)(), dtype="float64")


@dataclass
class Forecaster:
    """A fitted global model plus its interval calibration; what the registered pyfunc wraps."""

    spec: Spec
    model: MLForecast
    intervals: Intervals
    backtest: pd.DataFrame | None = field(default=None, repr=False)  # the fit's `cross_validation` rows (choice.py)
    covariates: dict[str, float] | None = None  # name -> usual value (None: fitted before they were named)

    @property
    def usual(self) -> dict[str, float]:
        """The covariates the model reads, each with its usual value."""
        return covariates.LEGACY if self.covariates is None else self.covariates

    def forecast(
        self,
        history: pd.DataFrame,
        horizon: int | None = None,
        price_ratio: float = 1.0,
        future: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """`unique_id, ds, p10, p50, p90` for the periods after each series' last row in `history`.

        `price_ratio` is the planned price against the usual one over the horizon (0.8: a 20% promotion);
        `future` (`unique_id, ds, <covariates>`) the planned values period by period, the usual ones where absent.
        """
        h = horizon or self.spec.horizon
        data = prepare(history, self.usual)
        x = _future(data, self.model, h, price_ratio, self.usual, future) if self.usual else None
        raw = self.model.predict(h, new_df=data, X_df=x)
        out = pd.DataFrame({"unique_id": raw["unique_id"].astype(str), "ds": raw["ds"]})
        out["p50"] = raw["lgbm"].clip(lower=0.0).to_numpy()
        low, high = self.intervals.apply(_band_rows(out, data, _scale_periods(self.spec)))
        out["p10"] = np.minimum(low, out["p50"])
        out["p90"] = np.maximum(high, out["p50"])
        return out[["unique_id", "ds", "p10", "p50", "p90"]]


def _scale(data: pd.DataFrame, periods: int) -> pd.Series:
    """Each series' mean over its last `periods` rows."""
    recent = data.groupby("unique_id", observed=True).tail(periods)
    return recent.groupby("unique_id", observed=True)["y"].mean()


def _future(
    data: pd.DataFrame,
    model: MLForecast,
    horizon: int,
    price_ratio: float,
    usual: dict[str, float],
    planned: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Covariates for the forecast periods: as `planned`, else usual (the usual price: no promotion is assumed)."""
    last = data.groupby("unique_id", observed=True)["ds"].max()
    offset = pd.tseries.frequencies.to_offset(model.freq)
    steps = [last + offset * (i + 1) for i in range(horizon)]
    frame = pd.concat([pd.DataFrame({"unique_id": last.index, "ds": s.to_numpy()}) for s in steps])
    grid = frame.sort_values(["unique_id", "ds"]).reset_index(drop=True)
    return covariates.future(grid, planned, usual, price_ratio, model.freq)


def fit(frame: pd.DataFrame, spec: Spec, seed: int = 0) -> Forecaster:
    """Backtest the last `interval_windows` horizons for the interval calibration, then fit on everything."""
    data = prepare(frame)
    usual = covariates.usual_values(data, covariates.names(data))
    log.info("covariates: %s", ", ".join(f"{k} (usual {v:g})" for k, v in usual.items()) or "none")
    lengths = data.groupby("unique_id", observed=True).size()
    h = spec.horizon
    # as many calibration windows as the history allows, up to the spec's: a short weekly history keeps one
    windows = min(spec.interval_windows, max(1, (int(lengths.max()) - 1) // h - 1))
    if lengths.max() <= (windows + 1) * h:
        raise ValueError(
            f"the longest series has {lengths.max()} periods: a fit needs more than {(windows + 1) * h} "
            f"({windows} calibration window of {h} periods plus as much history)"
        )
    if windows < spec.interval_windows:
        log.warning(
            "history too short for %d calibration windows of %d periods: using %d", spec.interval_windows, h, windows
        )
    log.info("calibrating intervals on %d windows of %d periods", windows, h)
    backtest = make(spec, len(data), seed, lengths).cross_validation(
        data, n_windows=windows, h=h, static_features=STATIC, refit=False
    )
    log.info("fitting LightGBM on %d series, %d rows", len(lengths), len(data))
    model = make(spec, len(data), seed, lengths).fit(data, static_features=STATIC)
    intervals = Intervals(_backtest_rows(data, backtest, _scale_periods(spec)), seed)
    return Forecaster(spec, model, intervals, backtest, covariates=usual)


def _scale_periods(spec: Spec) -> int:
    """Periods of the recent mean the interval models read: 28 days, 4 weeks, 3 months, 2 quarters, 1 year."""
    return {"D": 28, "W": 4, "M": 3, "Q": 2, "Y": 1}[frequency.kind(spec.freq)]


def _backtest_rows(data: pd.DataFrame, backtest: pd.DataFrame, scale_periods: int) -> pd.DataFrame:
    """Backtest forecasts as interval-model rows, each window's features taken as known at its cutoff."""
    parts = []
    for cutoff, rows in backtest.groupby("cutoff"):
        rows = rows.sort_values(["unique_id", "ds"]).rename(columns={"lgbm": "p50"})
        rows["p50"] = rows["p50"].clip(lower=0.0)
        parts.append(_band_rows(rows[["unique_id", "ds", "y", "p50"]], data[data["ds"] <= cutoff], scale_periods))
    return pd.concat(parts, ignore_index=True)
