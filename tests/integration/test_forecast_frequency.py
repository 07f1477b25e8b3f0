"""`retail forecast series` as a new user tries it: weekly sales recorded on Fridays, monthly sales, gaps and bad
frequencies, through the command line (no workspace needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from retail.cli import app

pytestmark = pytest.mark.integration


def _sales(dates: pd.DatetimeIndex, n_series: int = 4, period: float = 52.0) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    t = np.arange(len(dates))
    return pd.concat(
        [
            pd.DataFrame(
                {"unique_id": f"store{i}", "ds": dates, "y": rng.poisson(20 * (1.5 + np.sin(2 * np.pi * t / period)))}
            )
            for i in range(n_series)
        ],
        ignore_index=True,
    )


def _run(history: Path, out: Path, *more: str) -> tuple[int, str]:
    args = ["forecast", "series", "--history", str(history), "--out", str(out), *more]
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.output


FRIDAYS = pd.date_range("2023-01-06", periods=110, freq="W-FRI")


def test_weekly_sales_on_fridays_are_forecast_on_fridays(tmp_path: Path) -> None:
    history, out = tmp_path / "weekly.csv", tmp_path / "forecast.csv"
    _sales(FRIDAYS).to_csv(history, index=False)
    code, said = _run(history, out, "--horizon", "13", "--freq", "W")
    assert code == 0, said
    got = pd.read_csv(out, parse_dates=["ds"])
    assert len(got) == 4 * 13 and (got["ds"].dt.dayofweek == 4).all()
    assert sorted(got["ds"].unique())[0] == FRIDAYS[-1] + pd.Timedelta(days=7)
    code, said = _run(history, tmp_path / "auto.csv", "--horizon", "13")  # --freq auto: the same weeks
    assert code == 0, said
    assert (pd.read_csv(tmp_path / "auto.csv", parse_dates=["ds"])["ds"].dt.dayofweek == 4).all()


def test_monthly_sales_are_forecast_by_calendar_month(tmp_path: Path) -> None:
    history, out = tmp_path / "monthly.csv", tmp_path / "forecast.csv"
    _sales(pd.date_range("2019-01-01", periods=60, freq="MS"), period=12.0).to_csv(history, index=False)
    code, said = _run(history, out, "--horizon", "3", "--freq", "MS")
    assert code == 0, said
    months = sorted(pd.read_csv(out, parse_dates=["ds"])["ds"].unique())
    assert months == list(pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]))


def test_a_missing_week_is_named_in_one_line_and_can_be_filled(tmp_path: Path) -> None:
    data = _sales(FRIDAYS)
    data = data.drop(data.index[(data["unique_id"] == "store2") & data["ds"].isin(FRIDAYS[[30, 31]])])
    history, out = tmp_path / "gappy.csv", tmp_path / "forecast.csv"
    data.to_csv(history, index=False)
    code, said = _run(history, out, "--horizon", "13", "--freq", "W")
    assert code == 1 and "Traceback" not in said
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: gappy.csv")
    assert "store2 (2023-08-04, 2023-08-11)" in lines[0] and "--fill-gaps" in lines[0]
    code, said = _run(history, out, "--horizon", "13", "--freq", "W", "--fill-gaps")
    assert code == 0, said
    assert len(pd.read_csv(out)) == 4 * 13


def test_a_frequency_it_does_not_take_is_refused_in_one_line(tmp_path: Path) -> None:
    history = tmp_path / "weekly.csv"
    _sales(FRIDAYS[:20]).to_csv(history, index=False)
    code, said = _run(history, tmp_path / "out.csv", "--horizon", "4", "--freq", "H")
    lines = [line for line in said.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1
    assert lines[0].startswith("error: --freq 'H' is not a demand frequency") and "W-MON" in lines[0]
