"""The chosen demand forecast on generated weekly sets: it beats seasonal naive where a yearly season comes with a
trend and noise, and is never worse than seasonal naive where every year repeats the last."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.demand import choice
from training.demand.baselines import baseline_forecasts
from training.demand.dataset import Spec

pytestmark = pytest.mark.model
WEEKS, HORIZON, SERIES = 4 * 52, 13, 24  # AutoETS with a 52-week season is the slow part
START = pd.Timestamp("2021-01-04")  # a Monday


def _weekly(values: np.ndarray) -> pd.DataFrame:
    """`unique_id, ds, y` from a (series x weeks) array."""
    ds = pd.date_range(START, periods=values.shape[1], freq="W-MON")
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:02d}" for i in range(values.shape[0])], values.shape[1]),
            "ds": np.tile(ds, values.shape[0]),
            "y": values.ravel(),
        }
    )


def _seasonal_with_trend(seed: int = 0) -> pd.DataFrame:
    """Each series: level x (yearly season with its own phase) x (a trend of +15-40% a year), plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(WEEKS)
    level = rng.uniform(20, 200, (SERIES, 1))
    phase = rng.uniform(0, 2 * np.pi, (SERIES, 1))
    season = 1 + 0.5 * np.sin(2 * np.pi * t / 52 + phase)
    trend = 1 + rng.uniform(0.15, 0.4, (SERIES, 1)) * t / 52
    noise = rng.normal(0, 0.08, (SERIES, WEEKS))
    return _weekly(np.round(level * season * trend * (1 + noise), 1).clip(min=0.0))


def _pure_copy(seed: int = 1) -> pd.DataFrame:
    """A random first year, then each year the same weeks again."""
    rng = np.random.default_rng(seed)
    year = np.round(rng.gamma(2.0, 20.0, (SERIES, 52)), 1)
    return _weekly(np.tile(year, 4))


def _held_out(frame: pd.DataFrame) -> dict[str, float]:
    """WAPE of the chosen forecast and of seasonal naive on the last `HORIZON` weeks, fitted on the weeks before."""
    cut = frame["ds"].max() - pd.Timedelta(weeks=HORIZON - 1)
    train, test = frame[frame["ds"] < cut], frame[frame["ds"] >= cut]
    fitted = choice.fit(train, Spec(freq="W-MON", horizon=HORIZON, country="US"))
    ours = fitted.forecast(train, HORIZON)
    naive = baseline_forecasts(train, HORIZON, "W-MON")[["unique_id", "ds", "seasonal_naive"]]
    rows = test.merge(ours, on=["unique_id", "ds"]).merge(naive, on=["unique_id", "ds"])
    assert len(rows) == SERIES * HORIZON
    total = rows["y"].abs().sum()
    return {
        "chosen": float((rows["y"] - rows["p50"]).abs().sum() / total),
        "naive": float((rows["y"] - rows["seasonal_naive"]).abs().sum() / total),
        "ordered": bool(((rows["p10"] <= rows["p50"]) & (rows["p50"] <= rows["p90"])).all()),
    }


def test_with_a_trend_the_choice_beats_seasonal_naive_on_held_out_weeks() -> None:
    found = _held_out(_seasonal_with_trend())
    assert found["ordered"]
    assert found["chosen"] < 0.8 * found["naive"], found  # the trend makes last year's weeks too low


def test_on_a_pure_seasonal_copy_the_choice_is_never_worse_than_seasonal_naive() -> None:
    found = _held_out(_pure_copy())
    assert found["naive"] == 0.0  # each week is the same week a year before
    assert found["chosen"] <= found["naive"] + 1e-9, found
