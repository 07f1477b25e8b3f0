"""The demand yardsticks: statsforecast's seasonal naive, moving average, AutoETS, ADIDA and Croston.

Season and window follow the frequency (`training.demand.frequency`): 7 and 28 days, 52 and 4 weeks, 12 and 3
months; the moving average keeps its name `mean_28` whatever the frequency (metric names stay comparable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.demand import frequency
from training.demand.dataset import Series

BASELINES = ("seasonal_naive", "mean_28", "auto_ets", "adida", "croston")


def baseline_forecasts(history: pd.DataFrame, horizon: int, freq: str, ets: bool = True) -> pd.DataFrame:
    """`unique_id, ds` and one P50 column per baseline; AutoETS also gives its own P10/P90 (without `ets` its
    columns are NaN: the choice leaves it out)."""
    # lazy: statsforecast (numba) takes most of a second to import; the service loads this family without it
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, AutoETS, CrostonOptimized, SeasonalNaive, WindowAverage

    season = frequency.season(freq)
    lengths = history.groupby("unique_id").size()
    window = frequency.window(freq)
    frame, freq_code = history[["unique_id", "ds", "y"]], frequency.offset(freq)
    simple = [
        SeasonalNaive(season_length=season if lengths.min() >= season else 1, alias="seasonal_naive"),
        WindowAverage(window_size=min(window, int(lengths.min())), alias="mean_28"),
        ADIDA(alias="adida"),
        CrostonOptimized(alias="croston"),
    ]
    out = StatsForecast(models=simple, freq=freq_code, n_jobs=1).forecast(df=frame, h=horizon)
    keep = ["unique_id", "ds", *BASELINES, "auto_ets_p10", "auto_ets_p90"]
    if ets:
        model = AutoETS(season_length=season if lengths.min() >= 2 * season else 1, alias="auto_ets")
        bands = StatsForecast(models=[model], freq=freq_code, n_jobs=1).forecast(df=frame, h=horizon, level=[80])
        out = out.merge(bands, on=["unique_id", "ds"])
        out = out.rename(columns={"auto_ets-lo-80": "auto_ets_p10", "auto_ets-hi-80": "auto_ets_p90"})
    else:
        out = out.assign(auto_ets=np.nan, auto_ets_p10=np.nan, auto_ets_p90=np.nan)
    out = out[keep].copy()
    out[keep[2:]] = out[keep[2:]].clip(lower=0.0)
    return out


def fit(series: Series) -> pd.DataFrame:
    """The family's baselines stage: every baseline's forecast for the horizon after the training rows."""
    return baseline_forecasts(series.history, series.spec.horizon, series.spec.freq)
