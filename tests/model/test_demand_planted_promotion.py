"""Known answer: a planted promotion lift is recovered from a history that carries the promotion flag.

Daily series with a weekly profile; on random days (about one in seven, known in advance) a promotion sells 40%
more. The model learns the flag from the history; forecast with the planned flags, promotion days come out 1.4
times the rest (against the known expectation of each day), and without them nothing is lifted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from training.demand import files, model
from training.demand.dataset import Spec

pytestmark = pytest.mark.model
LIFT = 1.4
HORIZON = 28


@pytest.fixture(scope="module")
def world() -> pd.DataFrame:
    """40 series over 420 days: `y` Poisson around `expected` (level x weekday, x1.4 on promotion days)."""
    rng = np.random.default_rng(7)
    days = pd.date_range("2025-01-06", periods=420, freq="D")
    weekday = np.array([0.9, 0.95, 1.0, 1.0, 1.1, 1.25, 0.8])[days.dayofweek]
    parts = []
    for i in range(40):
        promo = (rng.random(len(days)) < 0.15).astype(np.int64)
        expected = rng.uniform(8, 40) * weekday * np.where(promo == 1, LIFT, 1.0)
        parts.append(
            pd.DataFrame({"unique_id": f"s{i:02d}", "ds": days, "y": rng.poisson(expected), "promo": promo}).assign(
                base=expected / np.where(promo == 1, LIFT, 1.0)
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def fitted(world: pd.DataFrame) -> tuple[model.Forecaster, pd.DataFrame, pd.DataFrame]:
    cut = world["ds"].max() - pd.Timedelta(days=HORIZON - 1)
    history, ahead = world[world["ds"] < cut], world[world["ds"] >= cut]
    return model.fit(history[["unique_id", "ds", "y", "promo"]], Spec(horizon=HORIZON, country="US")), history, ahead


def _lift(forecast: pd.DataFrame, ahead: pd.DataFrame) -> float:
    """P50 on promotion days over the rest, each against the days' known expectation without a promotion."""
    rows = forecast.merge(ahead, on=["unique_id", "ds"])
    on, off = rows[rows["promo"] == 1], rows[rows["promo"] == 0]
    return float((on["p50"].sum() / on["base"].sum()) / (off["p50"].sum() / off["base"].sum()))


def test_the_model_remembers_its_covariates(fitted: tuple[model.Forecaster, pd.DataFrame, pd.DataFrame]) -> None:
    forecaster, _, _ = fitted
    assert forecaster.covariates == {"promo": 0.0}


def test_planned_promotions_recover_the_planted_lift(
    fitted: tuple[model.Forecaster, pd.DataFrame, pd.DataFrame],
) -> None:
    forecaster, history, ahead = fitted
    assert (ahead["promo"] == 1).sum() > 100, "enough planned promotion days to measure"
    out = forecaster.forecast(history, HORIZON, future=ahead[["unique_id", "ds", "promo"]])
    assert abs(_lift(out, ahead) / LIFT - 1) < 0.10


def test_without_the_plan_no_day_is_lifted(fitted: tuple[model.Forecaster, pd.DataFrame, pd.DataFrame]) -> None:
    forecaster, history, ahead = fitted
    out = forecaster.forecast(history, HORIZON)
    assert abs(_lift(out, ahead) - 1) < 0.10
    planned = forecaster.forecast(history, HORIZON, future=ahead[["unique_id", "ds", "promo"]])
    assert planned["p50"].sum() > out["p50"].sum() * 1.03  # about 15% of the days sell 40% more


def test_an_unknown_future_column_is_refused(fitted: tuple[model.Forecaster, pd.DataFrame, pd.DataFrame]) -> None:
    forecaster, history, ahead = fitted
    future = ahead[["unique_id", "ds", "promo"]].assign(display=1.0)
    with pytest.raises(ValueError, match="'display'.*not trained with it.*promo"):
        forecaster.forecast(history, HORIZON, future=future)


def test_forecast_series_reads_the_history_covariates_and_the_future_file(world: pd.DataFrame, tmp_path: Path) -> None:
    """The CLI's path: a CSV history with a promo column, a future CSV with the plan."""
    small = world[world["unique_id"].isin(["s00", "s01", "s02", "s03"])]
    cut = small["ds"].max() - pd.Timedelta(days=13)
    history, ahead = small[small["ds"] < cut], small[small["ds"] >= cut]
    history[["unique_id", "ds", "y", "promo"]].assign(note="text").to_csv(tmp_path / "h.csv", index=False)
    ahead[["unique_id", "ds", "promo"]].to_csv(tmp_path / "f.csv", index=False)
    out = tmp_path / "out.csv"
    rows = files.forecast_file(tmp_path / "h.csv", out, 14, "D", "US", future=tmp_path / "f.csv")
    result = pd.read_csv(out, parse_dates=["ds"])
    assert rows == len(result.merge(ahead, on=["unique_id", "ds"])) == 4 * 14
    assert _lift(result, ahead) > 1.15
    ahead[["unique_id", "ds"]].assign(display=1).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="'display'"):
        files.forecast_file(tmp_path / "h.csv", out, 14, "D", "US", future=tmp_path / "bad.csv")
