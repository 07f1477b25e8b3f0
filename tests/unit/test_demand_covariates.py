"""Known-future covariates: which history columns they are, their usual values, future frames and files, plans."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from features.contract import DataError
from training.demand import covariates
from training.demand.files import read_series

DAYS = pd.date_range("2026-03-02", periods=4, freq="D")


def _history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": ["a"] * 4,
            "ds": DAYS,
            "y": [1.0, 2.0, 3.0, 4.0],
            "price_ratio": [0.8, 1.0, 1.0, 0.9],
            "promo": [1, 0, 0, 0],
            "open": [True, True, True, False],
            "product_id": ["a"] * 4,
            "list_price": [9.5] * 4,
            "category": ["x"] * 4,
            "note": ["n", "m", "n", "m"],
        }
    )


def test_covariates_are_the_numeric_columns_besides_keys_ids_and_attributes() -> None:
    assert covariates.names(_history()) == ["price_ratio", "promo", "open"]


def test_usual_values_are_the_usual_price_and_each_flags_median() -> None:
    usual = covariates.usual_values(_history(), ["price_ratio", "promo", "open"])
    assert usual == {"price_ratio": 1.0, "promo": 0.0, "open": 1.0}


def _grid() -> pd.DataFrame:
    return pd.DataFrame({"unique_id": ["a", "a", "b", "b"], "ds": [*DAYS[:2], *DAYS[:2]]})


def test_without_a_plan_every_covariate_is_usual_and_price_ratio_is_the_one_asked() -> None:
    out = covariates.future(_grid(), None, {"price_ratio": 1.0, "promo": 0.0}, price_ratio=0.8)
    assert out["price_ratio"].tolist() == [0.8] * 4
    assert out["promo"].tolist() == [0.0] * 4


def test_planned_values_apply_and_what_the_plan_lacks_is_usual_and_named(caplog: pytest.LogCaptureFixture) -> None:
    plan = pd.DataFrame({"unique_id": ["a", "b", "c"], "ds": [DAYS[1], DAYS[0], DAYS[0]], "promo": [1, 1, 1]})
    plan.loc[len(plan)] = ["a", DAYS[3], 1]  # after the horizon
    with caplog.at_level(logging.WARNING, logger="training.demand.covariates"):
        out = covariates.future(_grid(), plan, {"price_ratio": 1.0, "promo": 0.0, "display": 0.0})
    assert out["promo"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert out["price_ratio"].tolist() == [1.0] * 4
    said = caplog.text
    assert "ignored 2 planned row(s) outside the forecast horizon" in said
    assert "price_ratio (not planned)" in said and "display (not planned)" in said
    assert "promo (2 of 4 periods)" in said


def test_a_future_column_the_model_never_saw_is_refused_by_name() -> None:
    plan = _grid().assign(feature_flag=1.0)
    with pytest.raises(ValueError, match="future column 'feature_flag'.*covariates: price_ratio"):
        covariates.future(_grid(), plan, {"price_ratio": 1.0})


def test_a_future_frame_with_repeated_periods_is_refused() -> None:
    plan = pd.concat([_grid(), _grid()]).assign(promo=1.0)
    with pytest.raises(ValueError, match=r"repeats \(unique_id, ds\) \(a, 2026-03-02\)"):
        covariates.future(_grid(), plan, {"promo": 0.0})


def test_a_history_without_a_covariate_uses_its_usual_value(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="training.demand.covariates"):
        out = covariates.history(_history().drop(columns="promo"), {"promo": 0.0, "price_ratio": 1.0})
    assert out["promo"].tolist() == [0.0] * 4
    assert out["price_ratio"].tolist() == [0.8, 1.0, 1.0, 0.9]
    assert "lacks covariate(s) promo" in caplog.text


def test_read_future_parses_dates_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "future.csv"
    path.write_text("unique_id,ds,promo,price_ratio\na,2026-03-02,1,0.8\na,2026-03-03,,1\n")
    out = covariates.read_future(path)
    assert out["ds"].tolist() == list(DAYS[:2])
    assert out["promo"].iloc[0] == 1.0 and pd.isna(out["promo"].iloc[1])
    assert out["price_ratio"].tolist() == [0.8, 1.0]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("unique_id,ds,promo\na,2026-03-02,yes\n", "line 2, column promo: not a number: 'yes'"),
        ("unique_id,ds,promo\na,2026-03-02,1\na,someday,1\n", "line 3, column ds: not a date: 'someday'"),
        ("unique_id,ds,promo\n,2026-03-02,1\n", "line 2, column unique_id: empty"),
        ("unique_id,ds,promo\na,2026-03-02,1\na,2026-03-02,0\n", "line 3, column ds: repeated (unique_id, ds)"),
        ("unique_id,promo\na,1\n", ", column ds: missing column(s) ds"),
    ],
)
def test_read_future_names_the_bad_cell(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "future.csv"
    path.write_text(text)
    with pytest.raises(DataError) as caught:
        covariates.read_future(path)
    assert str(caught.value).startswith("future.csv")
    assert where in str(caught.value)


def test_read_series_keeps_the_history_numeric_columns(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("unique_id,ds,y,promo,note\na,2026-03-02,3,1,x\na,2026-03-03,4,0,y\n")
    out = read_series(path)
    assert list(out.columns) == ["unique_id", "ds", "y", "promo"]
    assert out["promo"].tolist() == [1.0, 0.0]


SERIES = pd.DataFrame(
    {"unique_id": ["p1@s1", "p1@s2", "p2@s1"], "product_id": ["p1", "p1", "p2"], "store_id": ["s1", "s2", "s1"]}
)


def test_a_plan_by_product_applies_to_every_store_and_prices_become_ratios(caplog: pytest.LogCaptureFixture) -> None:
    plan = pd.DataFrame({"product_id": ["p1", "p9"], "ds": [DAYS[0], DAYS[0]], "price": [8.0, 1.0]})
    with caplog.at_level(logging.WARNING, logger="training.demand.covariates"):
        out = covariates.plan(plan, SERIES, pd.Series({"p1": 10.0, "p9": 2.0}), ["price_ratio"])
    assert sorted(out["unique_id"]) == ["p1@s1", "p1@s2"]
    assert out["price_ratio"].tolist() == [0.8, 0.8]
    assert "ignored 1 planned row(s) of series not forecast" in caplog.text


def test_a_plan_is_refused_where_the_model_cannot_use_it() -> None:
    products = SERIES[["unique_id", "product_id"]].drop_duplicates("product_id")
    by_store = pd.DataFrame({"product_id": ["p1"], "store_id": ["s1"], "ds": [DAYS[0]], "price_ratio": [0.9]})
    with pytest.raises(ValueError, match="store_id: the model forecasts products"):
        covariates.plan(by_store, products, pd.Series(dtype=float), ["price_ratio"])
    promo = pd.DataFrame({"product_id": ["p1"], "ds": [DAYS[0]], "promo": [1.0]})
    with pytest.raises(ValueError, match="future column 'promo'.*covariates: price_ratio"):
        covariates.plan(promo, SERIES, pd.Series(dtype=float), ["price_ratio"])
    priced = pd.DataFrame({"product_id": ["p2"], "ds": [DAYS[0]], "price": [3.0]})
    with pytest.raises(ValueError, match="no usual price known for product p2"):
        covariates.plan(priced, SERIES, pd.Series({"p1": 10.0}), ["price_ratio"])


def test_a_daily_plan_for_weekly_periods_is_each_weeks_mean(caplog: pytest.LogCaptureFixture) -> None:
    """Weeks stamped on their Monday: 3 days at 0.65 and 4 usual days make a week at 0.85; a plan on the stamps
    is kept as it is."""
    weeks = pd.DataFrame({"unique_id": ["a", "a"], "ds": pd.to_datetime(["2026-03-02", "2026-03-09"])})
    days = pd.to_datetime(["2026-03-03", "2026-03-04", "2026-03-05", "2026-04-20"])
    plan = pd.DataFrame({"unique_id": "a", "ds": days, "price_ratio": 0.65})
    with caplog.at_level(logging.WARNING, logger="training.demand.covariates"):
        out = covariates.future(weeks, plan, {"price_ratio": 1.0}, freq="W-MON")
    assert out["price_ratio"].tolist() == pytest.approx([(3 * 0.65 + 4) / 7, 1.0])
    assert "ignored 1 planned row(s) outside the forecast horizon" in caplog.text
    stamped = pd.DataFrame({"unique_id": "a", "ds": weeks["ds"], "price_ratio": [0.65, 0.9]})
    assert covariates.future(weeks, stamped, {"price_ratio": 1.0}, freq="W-MON")["price_ratio"].tolist() == [0.65, 0.9]


def test_a_daily_plan_for_month_end_periods_counts_the_days_before_each_stamp() -> None:
    months = pd.DataFrame({"unique_id": ["a"], "ds": pd.to_datetime(["2026-02-28"])})
    plan = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2026-02-01", periods=14), "promo": 1.0})
    out = covariates.future(months, plan, {"promo": 0.0}, freq="ME")
    assert out["promo"].tolist() == pytest.approx([0.5])  # 14 of February's 28 days
