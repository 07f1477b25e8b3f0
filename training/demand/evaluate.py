"""Demand evaluation: a rolling-origin backtest of the model against the baselines, and champion-challenger tables.

Figures are WAPE, MASE, bias, pinball loss and P10-P90 coverage; headline figures are the last origin's (`T - H`),
`backtest_*` the mean over every origin. `model` is what gets registered: the chosen combination (`choice.py`),
refitted and chosen again at every origin; `lightgbm` is LightGBM alone.
"""

from __future__ import annotations

import logging
import re

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient

from training import compare as comparison
from training.demand import choice, frequency
from training.demand.baselines import BASELINES
from training.demand.dataset import SEASON, Series, Spec
from training.demand.pyfunc import INPUT, DemandModel
from training.family import Context, Dataset, Evaluation, NotComparable

log = logging.getLogger(__name__)
QUANTILES = {"p10": 0.1, "p50": 0.5, "p90": 0.9}
_BANDS = ["lightgbm_p10", "lightgbm_p90"]
SCORES = ["wape", "mase", "coverage", "pinball", "bias"]


def _mase_scale(history: pd.DataFrame, season: int) -> pd.Series:
    """Per series, the in-sample mean absolute seasonal difference (the seasonal naive's error); a series shorter
    than a season (e.g. under a year of weeks) is scaled by the one-period difference (the naive's error)."""
    by = history["unique_id"]
    seasonal = history.groupby("unique_id")["y"].diff(season).abs().groupby(by).mean()
    naive = history.groupby("unique_id")["y"].diff(1).abs().groupby(by).mean()
    scale = seasonal.fillna(naive)
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


def evaluate(ctx: Context, fitted: choice.Chosen, baselines: pd.DataFrame, data: Dataset) -> Evaluation:
    """The family's evaluate stage: the chosen combination, LightGBM alone and every baseline forecast H from each
    origin (the combination fitted and chosen there); figures per origin, their mean (`backtest_*`) and, for the
    last origin, per category; how many series got each method; the last origin's rows (with context) kept."""
    s: Series = data.train
    history = pd.concat([s.history, data.test], ignore_index=True)
    per_origin, last_rows = [], pd.DataFrame()
    models = ["model", "lightgbm", *BASELINES]
    for origin in s.origins:
        ctx.progress(f"demand: backtest from {origin:%Y-%m-%d}")
        past = history[history["ds"] < origin]
        is_last = origin == s.origins[-1]
        at_origin = fitted if is_last else choice.fit(past, s.spec, ctx.settings.seed, progress=ctx.progress)
        base = baselines if is_last else choice.baselines_at(past, s.spec.horizon, s.spec.freq)
        rows = _rows(history, past, at_origin, base, s.spec.horizon)
        per_origin.append(scores(rows, past, s.spec.freq, models))
        if is_last:
            last_rows = rows
    results = dict(per_origin[-1])
    results |= {f"backtest_{k}": float(np.mean([o[k] for o in per_origin])) for k in per_origin[-1]}
    origin = s.origins[-1]
    past = history[history["ds"] < origin]
    categories = by_category(last_rows, past, s.spec.freq, models)
    results |= {
        f"by_category/{_metric_name(c)}/{k}": v for c, figures in categories.items() for k, v in figures.items()
    }
    results |= {f"choice/series_{m.replace('+', '_and_')}": float(n) for m, n in fitted.counts().items()}
    log_choice(fitted, "choice/backtest_evaluation_fit.txt")
    figures = {"plots/forecast_vs_actual.png": forecast_figure(past, last_rows)}
    context_rows = history[(history["ds"] < origin) & (history["ds"] >= origin - _context(s.spec))]
    eval_set = pd.concat([context_rows.assign(part="history"), last_rows.assign(part="test")], ignore_index=True)
    return Evaluation(results, eval_set, figures)


def _metric_name(text: str) -> str:
    return re.sub(r"[^\w\-. ]", "_", text)


def log_choice(fitted: choice.Chosen, artifact: str) -> None:
    """The choice's backtest table and each series' method as a text artifact of the active MLflow run (if any)."""
    if mlflow.active_run() is None:
        return
    methods = pd.Series(fitted.methods, name="method").rename_axis("unique_id").reset_index()
    mlflow.log_text(f"{choice.describe(fitted.table)}\n\n{methods.to_string(index=False)}\n", artifact)


def _context(spec: Spec) -> pd.Timedelta:
    """History a rescoring needs before an origin: the longest lag window, twice over (120 days for days)."""
    if frequency.kind(spec.freq) == "D":
        return pd.Timedelta(days=120)
    return pd.Timedelta(days=frequency.days(spec.freq) * 2 * (frequency.season(spec.freq) + 2))


def _rows(history: pd.DataFrame, past: pd.DataFrame, fitted: choice.Chosen, base: pd.DataFrame, h: int) -> pd.DataFrame:
    """Truth for the `h` periods after `past` with the chosen and LightGBM quantiles and every baseline's P50."""
    pred = fitted.forecast_all(past, h, extra=("lightgbm",))
    pred = pred.rename(columns={"p50": "model", "p10": "model_p10", "p90": "model_p90"})
    pred = pred[["unique_id", "ds", "method", "model", "model_p10", "model_p90", "lightgbm", *_BANDS]]
    truth = history[history["ds"] > past["ds"].max()][["unique_id", "ds", "y", "category"]]
    rows = truth.merge(pred, on=["unique_id", "ds"]).merge(base, on=["unique_id", "ds"], how="left")
    return rows.fillna({b: 0.0 for b in BASELINES})


def compare(client: MlflowClient, name: str, champion: str, challenger: str) -> pd.DataFrame:
    """Champion, challenger and baselines on the challenger's evaluation: logged figures where the champion saw the
    same rows, else the champion rescored on the challenger's held-out period."""
    rows: dict[str, dict[str, object]] = {}
    if comparison.champion_seen_rows(client, name, champion, challenger):
        rows["champion"] = {"version": champion, **comparison.logged(client, name, champion, "model", SCORES)}
    else:
        rows["champion"] = {"version": champion, **_rescore(client, name, champion, challenger)}
    rows["challenger"] = {"version": challenger, **comparison.logged(client, name, challenger, "model", SCORES)}
    for baseline in BASELINES:
        rows[baseline] = {"version": None, **comparison.logged(client, name, challenger, baseline, SCORES)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def _rescore(client: MlflowClient, name: str, champion: str, challenger: str) -> dict[str, float]:
    """The champion forecasting the challenger's held-out period from the history logged with it."""
    frame = comparison.evaluation_set(client, name, challenger)
    past, test = frame[frame["part"] == "history"], frame[frame["part"] == "test"]
    loaded = comparison.load_version(client, name, champion)
    inner = loaded.unwrap_python_model()
    if not isinstance(inner, DemandModel):
        raise NotComparable(f"demand v{champion} is not a demand pyfunc of this code")
    h = int(test.groupby("unique_id").size().max())
    pred = inner.forecaster.forecast(past[INPUT], h)
    rows = test[["unique_id", "ds", "y"]].merge(pred, on=["unique_id", "ds"])
    rows = rows.rename(columns={"p50": "model", "p10": "model_p10", "p90": "model_p90"})
    found = scores(rows, past, inner.spec.freq, ["model"])
    return {s: found.get(f"model_{s}", float("nan")) for s in SCORES}
