"""Demand frequencies: aliases, inferred anchors, gaps and duplicates, horizons, per-frequency features and sizes."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import DataError
from training.demand import dataset, files, frequency, model, recipe


def _seasonal(dates: pd.DatetimeIndex, n_series: int = 6, period: float = 52.0, seed: int = 0) -> pd.DataFrame:
    """Series with a yearly season and noise on the given dates."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(dates))
    frames = []
    for i in range(n_series):
        mean = (10 + 3 * i) * (1.5 + np.sin(2 * np.pi * t / period))
        frames.append(pd.DataFrame({"unique_id": f"S{i}", "ds": dates, "y": rng.poisson(mean).astype(float)}))
    return pd.concat(frames, ignore_index=True)


FRIDAYS = pd.date_range("2023-01-06", periods=120, freq="W-FRI")


def test_weekly_dates_give_their_weekday_and_the_forecast_stays_on_it(tmp_path: Path) -> None:
    history = tmp_path / "friday.csv"
    _seasonal(FRIDAYS).to_csv(history, index=False)
    frame = files.read_series(history, "W")
    assert frequency.resolve(frame, "W") == "W-FRI" and frequency.resolve(frame, "auto") == "W-FRI"
    out = tmp_path / "out.csv"
    assert files.forecast_file(history, out, 13, "W", "GB") == 6 * 13
    got = pd.read_csv(out, parse_dates=["ds"])
    assert (got["ds"].dt.dayofweek == 4).all()  # Fridays, as the history
    assert got["ds"].min() == FRIDAYS[-1] + pd.Timedelta(days=7)


def test_monthly_month_start_series_are_inferred_and_forecast_by_month() -> None:
    months = pd.date_range("2020-01-01", periods=60, freq="MS")
    data = _seasonal(months, n_series=8, period=12.0)
    assert frequency.infer(data) == "MS"
    assert frequency.infer(data.assign(ds=data["ds"] + pd.offsets.MonthEnd(0))) == "ME"
    train = data[data["ds"] < "2024-10-01"]
    fitted = model.fit(train, dataset.Spec(freq="MS", horizon=3, lgbm={"n_estimators": 60}))
    out = fitted.forecast(train, 3)
    assert sorted(out["ds"].unique()) == list(pd.to_datetime(["2024-10-01", "2024-11-01", "2024-12-01"]))
    assert "month" in fitted.model.ts.features and "lag12" in fitted.model.ts.features
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()


def test_a_gap_is_named_by_series_and_date_and_can_be_filled(tmp_path: Path) -> None:
    data = _seasonal(FRIDAYS[:20], n_series=3)
    gappy = data.drop(data.index[(data["unique_id"] == "S1") & (data["ds"] == FRIDAYS[5])])
    with pytest.raises(ValueError, match=r"1 series misses 1 week.*S1 \(2023-02-10\).*--fill-gaps"):
        frequency.regular(gappy, "auto")
    path = tmp_path / "gappy.csv"
    gappy.to_csv(path, index=False)
    with pytest.raises(DataError, match="gappy.csv.*S1"):
        files.read_series(path, "W-FRI")
    with pytest.raises(ValueError, match="misses 6 days.*the dates look like --freq W-FRI"):
        frequency.regular(data[data["unique_id"] == "S0"].head(2), "D")  # weekly dates said to be daily
    filled = files.read_series(path, "W-FRI", fill_gaps=True)
    assert len(filled) == len(data)
    hole = filled[(filled["unique_id"] == "S1") & (filled["ds"] == FRIDAYS[5])]
    assert hole["y"].tolist() == [0.0]


def test_duplicates_and_dates_off_the_weekday_are_named() -> None:
    data = _seasonal(FRIDAYS[:10], n_series=2)
    repeated = pd.concat([data, data[data["unique_id"] == "S0"].iloc[[3]]])
    with pytest.raises(ValueError, match=r"1 series has repeated dates.*S0 \(2023-01-27\)"):
        frequency.regular(repeated, "W")
    moved = data.copy()
    moved.loc[moved.index[-1], "ds"] += pd.Timedelta(days=1)  # S1's last row on a Saturday
    with pytest.raises(ValueError, match=r"not on --freq W-FRI.*S1 \(2023-03-11\)"):
        frequency.regular(moved, "W-FRI")


def test_aliases_are_canonical_and_others_refused() -> None:
    assert [frequency.parse(v) for v in ("d", "w-fri", "M", "ms", "Q", "auto")] == [
        "D",
        "W-FRI",
        "ME",
        "MS",
        "QE",
        "auto",
    ]
    assert dataset.Spec(freq="W").freq == "W-MON" and dataset.Spec(freq="m").freq == "ME"
    for bad in ("H", "B", "W-XYZ", "15min"):
        with pytest.raises(ValueError, match=rf"--freq '{bad}' is not a demand frequency"):
            frequency.parse(bad)
    with pytest.raises(ValueError, match="--freq"):
        dataset.Spec(freq="auto")
    with pytest.raises(ValueError, match="workspace"):
        frequency.workspace("QS")
    assert [frequency.season(f) for f in ("D", "W-FRI", "MS", "QE")] == [7, 52, 12, 4]
    assert [frequency.stored(f) for f in ("D", "W-SUN", "MS", "YE")] == ["D", "W", "MS", "YE"]  # the table's 4 chars


def test_horizon_days_become_whole_periods_or_are_refused() -> None:
    assert dataset.periods(pd.Timedelta(days=28), "D") == 28
    assert dataset.periods(pd.Timedelta(days=28), "W-MON") == 4
    assert dataset.periods(pd.Timedelta(days=91), "MS") == 3
    assert dataset.periods(pd.Timedelta(days=365), "MS") == 12
    for days, freq in ((30, "W-MON"), (45, "MS")):
        with pytest.raises(ValueError, match=rf"--horizon-days {days} is not whole"):
            dataset.periods(pd.Timedelta(days=days), freq)


def test_lags_longer_than_the_history_are_dropped_and_said(caplog: pytest.LogCaptureFixture) -> None:
    short = _seasonal(FRIDAYS[:40], n_series=5)
    with caplog.at_level(logging.INFO, logger="training.demand.recipe"):
        fitted = model.fit(short, dataset.Spec(freq="W-FRI", horizon=4, lgbm={"n_estimators": 40}))
    names = fitted.model.ts.features
    assert "lag1" in names and "lag52" not in names and "lag26" not in names
    assert "dropped lag 26, lag 52" in caplog.text
    assert len(fitted.forecast(short, 4)) == 5 * 4
    long = model.make(dataset.Spec(freq="W-FRI", horizon=13), 300 * 140, lengths=pd.Series([140] * 300))
    assert {"lag52", "rolling_mean_lag1_window_size52", "rolling_mean_lag51_window_size3"} <= set(long.ts.transforms)
    assert {"_week_of_year", "holidays_week_from"} <= {getattr(f, "__name__", f) for f in long.ts.date_features}


def test_workspace_weeks_start_on_the_anchor_day_and_months_are_calendar_months() -> None:
    days = pd.date_range("2026-01-01", "2026-03-31", freq="D")
    sales = pd.DataFrame({"unique_id": "A", "product_id": "A", "ds": days, "units": 1.0, "price_ratio": 1.0})
    attributes = pd.DataFrame(columns=["product_id", "category", "tier"])
    end = pd.Timestamp("2026-03-20")  # a Friday
    weeks = dataset.frame(sales, attributes, end, "W-SUN")
    assert (weeks["ds"].dt.dayofweek == 6).all() and (weeks["y"] == 7.0).all()
    assert weeks["ds"].min() == pd.Timestamp("2026-01-04") and weeks["ds"].max() == pd.Timestamp("2026-03-08")
    months = dataset.frame(sales, attributes, pd.Timestamp("2026-04-01"), "MS")
    assert months["ds"].tolist() == list(pd.to_datetime(["2026-01-01", "2026-02-01", "2026-03-01"]))
    assert months["y"].tolist() == [31.0, 28.0, 31.0]
    assert dataset.period_end(end, "MS") == pd.Timestamp("2026-03-01")


def test_holidays_are_counted_over_the_whole_period() -> None:
    stamp = pd.DatetimeIndex([pd.Timestamp("2025-12-22"), pd.Timestamp("2025-12-01")])  # Mondays
    assert recipe.holiday_days("GB", "week_from", stamp).tolist() == [2.0, 0.0]  # Christmas and Boxing Day
    assert recipe.holiday_days("GB", "week_to", stamp + pd.Timedelta(days=6)).tolist() == [2.0, 0.0]
    assert recipe.holiday_days("GB", "MS", pd.DatetimeIndex(["2025-12-01"])).tolist() == [2.0]
    assert recipe.holiday_days("GB", "ME", pd.DatetimeIndex(["2025-12-31"])).tolist() == [2.0]


def test_model_settings_follow_rows_and_frequency() -> None:
    daily = recipe.settings("D", 170_000)  # Online Retail's daily fit: as tuned there
    assert daily == {"min_child_samples": 850, "num_leaves": 15, "n_estimators": 600}
    weekly = recipe.settings("W-FRI", 350_000)
    assert weekly["min_child_samples"] == 250  # 0.5% of the rows counted in days: a week's row sums 7
    assert recipe.settings("MS", 1_000) == {"min_child_samples": 20, "num_leaves": 7, "n_estimators": 300}
