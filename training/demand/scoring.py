"""Forecast accuracy (WAPE, MASE, bias, pinball, interval coverage), statsforecast baselines and plots."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from training.demand.forecaster import FREQS, SEASON

log = logging.getLogger(__name__)
QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
BASELINES = ("seasonal_naive", "mean_28", "auto_ets", "adida", "croston")


def baseline_forecasts(history: pd.DataFrame, horizon: int, freq: str) -> pd.DataFrame:
    """`unique_id, ds` and one P50 column per baseline; AutoETS also gives its own P10/P90."""
    from statsforecast import StatsForecast
    from statsforecast.models import ADIDA, AutoETS, CrostonOptimized, SeasonalNaive, WindowAverage

    season = SEASON[freq]
    lengths = history.groupby("unique_id").size()
    window = 28 if freq == "D" else 4
    frame, freq_code = history[["unique_id", "ds", "y"]], FREQS[freq]
    simple = [
        SeasonalNaive(season_length=season if lengths.min() >= season else 1, alias="seasonal_naive"),
        WindowAverage(window_size=min(window, int(lengths.min())), alias="mean_28"),
        ADIDA(alias="adida"),
        CrostonOptimized(alias="croston"),
    ]
    out = StatsForecast(models=simple, freq=freq_code, n_jobs=1).forecast(df=frame, h=horizon)
    ets = AutoETS(season_length=season if lengths.min() >= 2 * season else 1, alias="auto_ets")
    with_bands = StatsForecast(models=[ets], freq=freq_code, n_jobs=1).forecast(df=frame, h=horizon, level=[80])
    out = out.merge(with_bands, on=["unique_id", "ds"])
    out = out.rename(columns={"auto_ets-lo-80": "auto_ets_p10", "auto_ets-hi-80": "auto_ets_p90"})
    keep = ["unique_id", "ds", *BASELINES, "auto_ets_p10", "auto_ets_p90"]
    out = out[keep].copy()
    out[keep[2:]] = out[keep[2:]].clip(lower=0.0)
    return out


def _mase_scale(history: pd.DataFrame, season: int) -> pd.Series:
    """Per series, the in-sample mean absolute seasonal difference (the seasonal naive's error)."""
    diffs = history.groupby("unique_id")["y"].diff(season).abs()
    scale = diffs.groupby(history["unique_id"]).mean()
    return scale.where(scale > 0)


def scores(rows: pd.DataFrame, history: pd.DataFrame, freq: str, models: list[str]) -> dict[str, float]:
    """`<model>_<metric>` over `rows` (truth `y`, a P50 column per model, `<model>_p10/_p90` where known)."""
    y = rows["y"].to_numpy()
    total = np.abs(y).sum() or np.nan
    scale = rows["unique_id"].map(_mase_scale(history, SEASON[freq]))
    out: dict[str, float] = {}
    for name in models:
        f = rows[name].to_numpy()
        err = np.abs(y - f)
        out[f"{name}_wape"] = float(err.sum() / total)
        out[f"{name}_bias"] = float((f - y).sum() / total)
        mae = pd.Series(err).groupby(rows["unique_id"].to_numpy()).mean()
        out[f"{name}_mase"] = float((mae / scale.groupby(rows["unique_id"].to_numpy()).first()).mean())
        if f"{name}_p10" in rows and f"{name}_p90" in rows:
            lo, hi = rows[f"{name}_p10"].to_numpy(), rows[f"{name}_p90"].to_numpy()
            out[f"{name}_coverage"] = float(np.mean((y >= lo) & (y <= hi)))
            quantiles = {"p10": lo, "p50": f, "p90": hi}
            loss = sum(_pinball(y, quantiles[q], a) for q, a in QUANTILES.items()) / len(QUANTILES)
            out[f"{name}_pinball"] = float(loss / total)
    return out


def _pinball(y: np.ndarray, q: np.ndarray, alpha: float) -> float:
    diff = y - q
    return float(np.sum(np.maximum(alpha * diff, (alpha - 1) * diff)))


def by_category(rows: pd.DataFrame, history: pd.DataFrame, freq: str, models: list[str]) -> dict[str, dict[str, float]]:
    """Every figure of `scores`, per category."""
    return {
        str(category): scores(part, history, freq, models)
        for category, part in rows.groupby(rows["category"].astype(str), observed=True)
    }


def forecast_figure(history: pd.DataFrame, rows: pd.DataFrame, n: int = 6, seed: int = 0) -> Figure:
    """Actuals against P50 and the P10-P90 band for a sample of the busiest series."""
    busiest = rows.groupby("unique_id")["y"].sum().nlargest(max(n * 3, n)).index.to_numpy()
    sample = np.random.default_rng(seed).choice(busiest, size=min(n, len(busiest)), replace=False)
    fig = Figure(figsize=(12, 2.2 * len(sample)))
    axes = np.atleast_1d(fig.subplots(len(sample), 1))
    start = rows["ds"].min() - (rows["ds"].max() - rows["ds"].min()) * 2
    for ax, uid in zip(axes, sample, strict=True):
        past = history[(history["unique_id"] == uid) & (history["ds"] >= start)]
        ahead = rows[rows["unique_id"] == uid]
        ax.plot(past["ds"], past["y"], color="grey", lw=1, label="history")
        ax.plot(ahead["ds"], ahead["y"], color="black", lw=1.2, label="actual")
        ax.plot(ahead["ds"], ahead["model"], color="tab:blue", lw=1.2, label="P50")
        ax.fill_between(
            ahead["ds"], ahead["model_p10"], ahead["model_p90"], color="tab:blue", alpha=0.2, label="P10-P90"
        )
        ax.set_title(str(uid), fontsize=9)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
