"""Demand: daily sales tables, forecasting frames, the forecaster on known patterns, files and overrides."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import DataError
from features.sales import daily_sales, product_attributes
from retail import db
from retail.settings import Settings
from retail.workspace import Workspace
from training.demand import dataset, files, model, storage


def _tx(rows: list[tuple[str, str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["product_id", "store_id", "ts", "quantity", "unit_price"]).assign(
        ts=lambda f: pd.to_datetime(f["ts"]), order_id="O1", customer_id=None
    )


def test_daily_sales_counts_purchases_only_and_stamps_the_end_of_the_day() -> None:
    tx = _tx(
        [
            ("P1", "S1", "2026-01-01 10:00", 2, 5.0),
            ("P1", "S2", "2026-01-01 18:00", 1, 4.0),
            ("P1", "S1", "2026-01-02 09:00", -1, 5.0),  # a return is not demand
            ("P2", "S1", "2026-01-02 09:00", 3, 10.0),
        ]
    )
    products = pd.DataFrame({"product_id": ["P1", "P2"], "name": ["a", "b"], "list_price": [5.0, 20.0]})
    table = daily_sales(tx, products, by_store=False)
    p1 = table[table["product_id"] == "P1"]
    assert p1["units"].tolist() == [3.0]  # the return day has no row
    assert p1["revenue"].tolist() == [14.0]
    assert p1["event_timestamp"].iloc[0] == pd.Timestamp("2026-01-02")
    p2 = table[table["product_id"] == "P2"].iloc[0]
    assert p2["price_ratio"] == pytest.approx(0.5)  # sold at half its list price: a promotion
    by_store = daily_sales(tx, products, by_store=True)
    assert set(zip(by_store["product_id"], by_store["store_id"], strict=True)) == {
        ("P1", "S1"),
        ("P1", "S2"),
        ("P2", "S1"),
    }


def test_usual_price_without_a_list_price_is_the_earlier_median() -> None:
    rows = [("P1", "S1", f"2026-01-{d:02d} 10:00", 1, 10.0) for d in range(1, 8)]
    tx = _tx([*rows, ("P1", "S1", "2026-01-08 10:00", 1, 7.0)])
    table = daily_sales(tx, None, by_store=False)
    assert table["price_ratio"].iloc[0] == 1.0  # the first day has no history: its own price
    assert table["price_ratio"].iloc[-1] == pytest.approx(0.7)


def test_attributes_default_to_unknown() -> None:
    tx = _tx([("P1", "S1", "2026-01-01", 1, 1.0), ("P9", "S1", "2026-01-01", 1, 1.0)])
    products = pd.DataFrame({"product_id": ["P1"], "name": ["a"], "category": ["toys"], "tier": ["best"]})
    table = product_attributes(products, tx).set_index("product_id")
    assert table.loc["P1", "category"] == "toys" and table.loc["P9", "category"] == "unknown"


def _sales(days: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    rows = [(pid, pd.Timestamp(d), u) for pid, sold in days.items() for d, u in sold]
    frame = pd.DataFrame(rows, columns=["product_id", "ds", "units"])
    return frame.assign(unique_id=frame["product_id"], price_ratio=1.0, revenue=frame["units"])


def test_frame_zero_fills_from_the_start_of_the_data_and_cuts_at_end() -> None:
    sales = _sales({"A": [("2026-01-01", 2), ("2026-01-04", 1), ("2026-01-09", 5)], "B": [("2026-01-03", 1)]})
    out = dataset.frame(sales, pd.DataFrame(columns=["product_id", "category", "tier"]), pd.Timestamp("2026-01-06"))
    a = out[out["unique_id"] == "A"]
    assert a["ds"].min() == pd.Timestamp("2026-01-01") and a["ds"].max() == pd.Timestamp("2026-01-05")
    assert a["y"].tolist() == [2, 0, 0, 1, 0]
    b = out[out["unique_id"] == "B"]
    assert b["ds"].min() == pd.Timestamp("2026-01-01") and b["y"].tolist() == [0, 0, 1, 0, 0]
    assert (out["category"] == "unknown").all()


def test_price_is_the_last_sale_s_as_known_before_the_day() -> None:
    sales = _sales({"A": [("2026-01-01", 2), ("2026-01-03", 1)]})
    sales["price_ratio"] = [0.5, 0.8]
    out = dataset.frame(sales, pd.DataFrame(columns=["product_id", "category", "tier"]), pd.Timestamp("2026-01-05"))
    assert out["price_ratio"].tolist() == [1.0, 0.5, 0.5, 0.8]  # never the day's own price: it would tell a sale


def test_weekly_frame_has_whole_monday_weeks_before_end() -> None:
    days = [(f"2026-01-{d:02d}", 1.0) for d in range(1, 22)]
    sales = _sales({"A": days})
    end = pd.Timestamp("2026-01-21")  # a Wednesday: weeks 05..11 and 12..18 (01..04 and 19..20 are partial)
    out = dataset.frame(sales, pd.DataFrame(columns=["product_id", "category", "tier"]), end, "W")
    assert out["ds"].tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-12")]
    assert out["y"].tolist() == [7.0, 7.0]
    assert dataset.period_end(end, "W") == pd.Timestamp("2026-01-19")


def _weekly_pattern(n_series: int = 12, days: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2026-01-05", periods=days, freq="D")  # a Monday
    profile = np.array([1, 1, 1, 1, 2, 4, 3], dtype=float)
    frames = []
    for i in range(n_series):
        level = 2 + i
        frames.append(pd.DataFrame({"unique_id": f"S{i}", "ds": ds, "y": rng.poisson(level * profile[ds.dayofweek])}))
    return pd.concat(frames, ignore_index=True)


def test_forecaster_learns_the_weekly_pattern_with_ordered_calibrated_quantiles() -> None:
    data = _weekly_pattern()
    cut = data["ds"].max() - pd.Timedelta(days=27)
    train, test = data[data["ds"] < cut], data[data["ds"] >= cut]
    fitted = model.fit(train, dataset.Spec(horizon=28, lgbm={"n_estimators": 80}))
    out = fitted.forecast(train, 28).merge(test, on=["unique_id", "ds"])
    assert len(out) == 12 * 28
    assert (out["p10"] <= out["p50"]).all() and (out["p50"] <= out["p90"]).all()
    by_day = out.groupby(out["ds"].dt.dayofweek)["p50"].mean()
    assert by_day[5] > 2.5 * by_day[1]  # Saturdays sell four times Tuesdays
    coverage = ((out["y"] >= out["p10"]) & (out["y"] <= out["p90"])).mean()
    assert 0.6 <= coverage <= 0.95
    wape = (out["y"] - out["p50"]).abs().sum() / out["y"].sum()
    naive = (out["y"] - out["unique_id"].map(train.groupby("unique_id")["y"].mean())).abs().sum() / out["y"].sum()
    assert wape < naive  # knows the weekday, unlike a flat mean


def test_square_root_target_inverts_exactly_and_keeps_returns() -> None:
    y = np.array([-9.0, -0.25, 0.0, 1.0, 2.5, 400.0])
    assert np.allclose(model.signed_square(model.signed_sqrt(y)), y)
    assert model.signed_sqrt(np.array([-4.0]))[0] == -2.0  # a return stays a negative, not NaN
    assert (model.signed_square(np.array([3e-23, -5e-7])) == 0.0).all()  # no 1e-45 units in an answer


def test_forecaster_reaches_a_best_seller_among_small_series() -> None:
    data = _weekly_pattern(n_series=40)
    rng = np.random.default_rng(1)
    big = data["unique_id"] == "S0"
    data.loc[big, "y"] = rng.poisson(300.0, big.sum())  # one series sells about 100 times the others
    cut = data["ds"].max() - pd.Timedelta(days=27)
    train, test = data[data["ds"] < cut], data[data["ds"] >= cut]
    fitted = model.fit(train, dataset.Spec(horizon=28, lgbm={"n_estimators": 80, "learning_rate": 0.1}))
    top = fitted.forecast(train, 28).merge(test, on=["unique_id", "ds"]).query("unique_id == 'S0'")
    assert 0.85 <= top["p50"].sum() / top["y"].sum() <= 1.15


def test_forecaster_needs_enough_history() -> None:
    short = _weekly_pattern(n_series=2, days=50)
    with pytest.raises(ValueError, match="1 calibration window of 28 periods"):
        model.fit(short, dataset.Spec(horizon=28))


def test_a_short_history_calibrates_on_fewer_windows() -> None:
    short = _weekly_pattern(n_series=4, days=70)  # room for one calibration window of 28 days, not two
    fitted = model.fit(short, dataset.Spec(horizon=28, lgbm={"n_estimators": 20}))
    assert fitted.backtest is not None and fitted.backtest["cutoff"].nunique() == 1
    assert len(fitted.forecast(short, 28)) == 4 * 28


def test_unknown_holiday_country_is_refused() -> None:
    with pytest.raises(ValueError, match="holiday country"):
        dataset.Spec(country="XX")


def test_read_series_names_the_bad_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("unique_id,ds,y\nA,2026-01-01,1\nA,2026-01-02,lots\n")
    with pytest.raises(DataError, match=r"h.csv line 3, column y: not a number: 'lots'"):
        files.read_series(path)
    path.write_text("unique_id,ds,y\nA,2026-01-01,1\nA,2026-01-01,2\n")
    with pytest.raises(DataError, match="repeated"):
        files.read_series(path)
    path.write_text("id,ds,y\n")
    with pytest.raises(DataError, match="missing column"):
        files.read_series(path)


def test_read_products_refuses_a_file_without_the_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("sku\nP1\n")
    with pytest.raises(DataError, match="product_id"):
        files.read_products(path)
    path.write_text("product_id\nP1\nP2\nP1\n")
    assert files.read_products(path) == ["P1", "P2"]


@pytest.fixture
def ws(tmp_path: Path) -> tuple[Workspace, Settings]:
    return Workspace.at(tmp_path), Settings(workspace=tmp_path)


def _forecast_rows() -> pd.DataFrame:
    ds = pd.date_range("2026-07-01", periods=5, freq="D")
    return pd.DataFrame({"product_id": "P1", "ds": ds, "p10": 1.0, "p50": 2.0, "p90": 4.0, "price": 3.0})


def _override(start: str, end: str, value: float | None = None, factor: float | None = None, author: str = "ann"):
    return storage.OverrideRequest(
        "P1", "", date.fromisoformat(start), date.fromisoformat(end), value, factor, "why", author
    )


def test_overlapping_overrides_newest_wins_and_revert_brings_the_older_back(ws: tuple[Workspace, Settings]) -> None:
    rows = _forecast_rows()
    with db.session(*ws) as s:
        first = storage.create_override(
            s, _override("2026-07-01", "2026-07-03", value=10), storage.adjust(rows, storage.active_overrides(s))
        )
    with db.session(*ws) as s:
        current = storage.adjust(rows, storage.active_overrides(s))
        second = storage.create_override(s, _override("2026-07-03", "2026-07-04", factor=3, author="bob"), current)
    assert second.replaced_value == pytest.approx(10 + 2)  # day 3 had the first override's 10, day 4 the P50
    assert second.replaced_override_id == first.id
    with db.session(*ws) as s:
        adjusted = storage.adjust(rows, storage.active_overrides(s))["adjusted"].tolist()
    assert adjusted == [10, 10, 6, 6, 2]
    with db.session(*ws) as s:
        storage.revert_override(s, second.id, "carol")
    with db.session(*ws) as s:
        assert storage.adjust(rows, storage.active_overrides(s))["adjusted"].tolist() == [10, 10, 10, 2, 2]
        actions = [(a.action, a.author) for a in storage.audit_trail(s, first.id)]
        assert actions == [("created", "ann"), ("overlapped", "bob")]
        assert [a.action for a in storage.audit_trail(s, second.id)] == ["created", "reverted"]
        with pytest.raises(ValueError, match="already reverted"):
            storage.revert_override(s, second.id, "dave")


def test_a_failed_override_writes_nothing(ws: tuple[Workspace, Settings]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        with db.session(*ws) as s:
            storage.create_override(s, _override("2026-07-01", "2026-07-02", value=1, factor=2), None)
    with db.session(*ws) as s:
        assert storage.list_overrides(s, None, include_closed=True) == []


def test_stored_runs_are_replaced_and_the_newest_run_before_a_day_is_judged(ws: tuple[Workspace, Settings]) -> None:
    rows = _forecast_rows()
    with db.session(*ws) as s:
        storage.store_run(s, rows, "1", pd.Timestamp("2026-07-01"), "product", "D", "predict")
        storage.store_run(s, rows.assign(p50=5.0), "1", pd.Timestamp("2026-07-01"), "product", "D", "predict")
        later = rows[rows["ds"] >= "2026-07-03"].assign(p50=7.0)
        storage.store_run(s, later, "2", pd.Timestamp("2026-07-03"), "product", "D", "predict")
    with db.session(*ws) as s:
        loaded = storage.load_run(s, "1", pd.Timestamp("2026-07-01"), "product", "predict")
        assert storage.load_run(s, "1", pd.Timestamp("2026-07-01"), "product", "service") is None
        judged = storage.stored_values(s, pd.Timestamp("2026-07-01"), pd.Timestamp("2026-07-06"))
    assert loaded is not None and loaded["p50"].tolist() == [5.0] * 5
    assert judged.set_index("ds")["p50"].tolist() == [5.0, 5.0, 7.0, 7.0, 7.0]


def test_forecast_series_command_needs_no_workspace(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from retail.cli import app

    history = tmp_path / "history.csv"
    _weekly_pattern(n_series=3, days=150).to_csv(history, index=False)
    out = tmp_path / "out.parquet"
    args = ["forecast", "series", "--history", str(history), "--horizon", "14", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["unique_id", "ds", "p10", "p50", "p90", "method"] and len(frame) == 3 * 14
    assert "backtest WAPE per group" in result.output and "seasonal_naive" in result.output
    assert f"series per method: {frame['method'].iloc[0]}" in result.output  # 3 series: one group, one method
    assert frame["ds"].min() == pd.Timestamp("2026-01-05") + pd.Timedelta(days=150)
    result = CliRunner().invoke(app, [*args[:-2], "--out", str(tmp_path / "out.txt")])
    assert result.exit_code == 1 and ".csv or .parquet" in result.output


def test_mase_of_a_history_shorter_than_a_season_uses_the_naive_scale() -> None:
    from training.demand.evaluate import scores

    ds = pd.date_range("2026-01-05", periods=30, freq="W-MON")  # 30 weeks: under one 52-week season
    history = pd.DataFrame({"unique_id": "A", "ds": ds, "y": np.arange(30.0) % 2 * 4.0})  # naive error 4
    rows = pd.DataFrame(
        {"unique_id": ["A"] * 2, "ds": ds[-2:] + pd.Timedelta(weeks=2), "y": [4.0, 0.0], "f": [2.0, 2.0]}
    )
    assert scores(rows, history, "W-MON", ["f"])["f_mase"] == pytest.approx(0.5)
