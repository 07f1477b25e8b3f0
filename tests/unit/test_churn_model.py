"""Churn model pieces on tiny generated frames: derived features, drivers (explanations) and the pyfunc output."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature

from features.catalog import CUSTOMER_FEATURES
from training.churn.drivers import PHRASES, drivers, phrases
from training.churn.model import MODEL_FEATURES, MODEL_INPUT, prepare
from training.churn.pyfunc import ChurnModel

AS_OF = 20_000.0  # days since 1970


def tiny_lgbm(x: pd.DataFrame, y: np.ndarray, n_estimators: int = 60) -> lgb.LGBMClassifier:
    """A small single-threaded model: milliseconds to fit, and no thread pool contending for busy cores."""
    model = lgb.LGBMClassifier(n_estimators=n_estimators, num_leaves=4, learning_rate=0.1, n_jobs=1, verbose=-1)
    return model.fit(x, y)


def customers(n: int, seed: int = 0) -> pd.DataFrame:
    """Plausible Feast rows: regular repeat buyers with windowed counts consistent with their history."""
    rng = np.random.default_rng(seed)
    gap = rng.uniform(10, 60, n)
    orders = rng.integers(3, 20, n).astype(float)
    recency = rng.uniform(1, 40, n)
    frame = pd.DataFrame({c: 0.0 for c in CUSTOMER_FEATURES}, index=range(n))
    for w in (30, 90, 180, 365):
        frame[f"orders_{w}d"] = np.minimum(orders, np.floor(w / gap))
        frame[f"active_days_{w}d"] = frame[f"orders_{w}d"]
        frame[f"spend_{w}d"] = frame[f"orders_{w}d"] * 40
        frame[f"units_{w}d"] = frame[f"orders_{w}d"] * 12
    frame["orders_total"], frame["spend_total"] = orders, orders * 40
    frame["avg_order_value"], frame["avg_line_price"], frame["lines_per_order"] = 40.0, 3.3, 4.0
    frame["returns_share"], frame["distinct_products"], frame["distinct_categories"] = 0.02, orders * 3, 4.0
    frame["gap_mean_days"], frame["gap_std_days"], frame["last_gap_days"] = gap, gap / 4, gap
    frame["last_purchase_day"] = AS_OF - recency
    frame["first_purchase_day"] = AS_OF - recency - gap * (orders - 1)
    frame.insert(0, "as_of_day", AS_OF)
    return frame[MODEL_INPUT]


def test_prepare_turns_dates_into_ages_and_rhythm() -> None:
    row = customers(1).assign(
        last_purchase_day=AS_OF - 40, first_purchase_day=AS_OF - 90, orders_total=6.0, gap_mean_days=20.0
    )
    row = row.assign(gap_std_days=3.0, last_gap_days=8.0)
    x = prepare(row).iloc[0]
    assert list(prepare(row).columns) == MODEL_FEATURES
    assert (x["recency_days"], x["tenure_days"]) == (40, 90)
    assert x["recency_over_gap"] == 2.0 and x["days_overdue"] == 20.0
    assert x["overdue_z"] == pytest.approx(20 / (3 + 7))
    assert x["recency_over_last_gap"] == 5.0
    assert x["orders_per_month"] == pytest.approx(6 / (90 / 30 + 1))


def test_prepare_keeps_one_order_customers_rhythm_unknown_and_refuses_missing_columns() -> None:
    row = customers(1).assign(gap_mean_days=np.nan, gap_std_days=np.nan, last_gap_days=np.nan)
    x = prepare(row).iloc[0]
    assert x[["recency_over_gap", "days_overdue", "overdue_z", "recency_over_last_gap"]].isna().all()
    with pytest.raises(ValueError, match="last_purchase_day"):
        prepare(row.drop(columns="last_purchase_day"))


def test_every_model_feature_has_a_phrase_in_the_customers_own_values() -> None:
    assert set(MODEL_FEATURES) <= set(PHRASES)
    x = prepare(pd.concat([customers(3), customers(1).assign(gap_mean_days=np.nan, last_gap_days=np.nan)]))
    for feature in MODEL_FEATURES:
        words = PHRASES[feature](x)
        assert len(words) == len(x) and all(isinstance(w, str) and w for w in words), feature
        assert not any("nan" in w for w in words), (feature, words)


def test_phrases_examples_read_like_a_crm_note() -> None:
    x = prepare(customers(1).assign(last_purchase_day=AS_OF - 142, orders_90d=2.0, orders_180d=9.0, spend_30d=0.0))
    assert PHRASES["recency_days"](x) == ["no order for 142 days"]
    assert PHRASES["orders_trend"](x) == ["2 orders in the last 90 days, down from 7 the 90 before"]
    assert PHRASES["spend_30d"](x) == ["spent £0 in the last 30 days"]
    one = prepare(customers(1).assign(gap_mean_days=20.7, last_purchase_day=AS_OF - 95))
    assert PHRASES["recency_over_gap"](one) == ["usually orders every 21 days; 95 days since the last order"]


def test_drivers_are_the_largest_positive_contributions_strongest_first() -> None:
    rows = customers(2)
    rows.loc[0, ["orders_30d", "active_days_30d", "spend_30d", "units_30d"]] = [1.0, 1.0, 40.0, 12.0]
    x = prepare(rows)
    contrib = np.zeros((2, len(MODEL_FEATURES) + 1))
    col = {f: i for i, f in enumerate(MODEL_FEATURES)}
    contrib[0, [col["spend_30d"], col["recency_days"], col["orders_total"], col["tenure_days"]]] = [0.2, 0.9, 0.5, 0.1]
    contrib[1, col["recency_days"]] = -1.0  # lowers churn: never a driver
    contrib[1, col["orders_90d"]] = 0.3
    contrib[:, -1] = 5.0  # the bias column is no feature
    got = phrases(contrib, x)
    expected = [PHRASES[f](x.iloc[[0]])[0] for f in ("recency_days", "orders_total", "spend_30d")]
    assert got[0] == expected
    assert got[1] == PHRASES["orders_90d"](x.iloc[[1]])
    assert phrases(contrib, x, k=1)[0] == expected[:1]


def test_one_fact_is_one_driver_and_an_empty_window_is_the_days_since_the_last_order() -> None:
    """The 30-day window's orders, spend, items and days say one thing, and with no order in it, what recency says."""
    rows = customers(2).assign(last_purchase_day=AS_OF - 45)
    for kind in ("orders", "active_days", "spend", "units"):
        rows[f"{kind}_30d"] = 0.0
    rows.loc[1, ["orders_90d", "spend_90d"]] = [2.0, 80.0]
    x = prepare(rows)
    col = {f: i for i, f in enumerate(MODEL_FEATURES)}
    contrib = np.zeros((2, len(MODEL_FEATURES) + 1))
    for feature, value in {"orders_30d": 0.5, "spend_30d": 0.4, "units_30d": 0.3, "active_days_30d": 0.2}.items():
        contrib[:, col[feature]] = value
    contrib[:, col["recency_days"]] = 0.1
    contrib[:, col["returns_share"]] = 0.6
    contrib[:, col["avg_order_value"]] = 0.05
    contrib[1, col["orders_90d"]], contrib[1, col["spend_90d"]] = 0.3, 0.2
    got = phrases(contrib, x)
    words = {f: PHRASES[f](x) for f in ("recency_days", "returns_share", "avg_order_value", "orders_90d")}
    # 1.5 for the days since the last order (four silent 30-day features and recency), then returns, then the rest
    assert got[0] == [words["recency_days"][0], words["returns_share"][0], words["avg_order_value"][0]]
    assert got[0][0] == "no order for 45 days"
    # the 90-day window had orders: its own fact (0.5), worded by its strongest feature, before the average order
    assert got[1] == [words["recency_days"][1], words["returns_share"][1], words["orders_90d"][1]]
    assert not any("in the last 30 days" in d for row in got for d in row)


def test_features_saying_the_same_thing_leave_room_for_another_driver() -> None:
    x = prepare(customers(1).assign(gap_mean_days=np.nan, gap_std_days=np.nan, last_gap_days=np.nan))
    contrib = np.zeros((1, len(MODEL_FEATURES) + 1))
    same = ["gap_mean_days", "last_gap_days", "overdue_z", "recency_days"]
    contrib[0, [MODEL_FEATURES.index(f) for f in same]] = [0.9, 0.8, 0.7, 0.1]
    assert phrases(contrib, x) == [["only one order so far", PHRASES["recency_days"](x)[0]]]


@pytest.fixture(scope="module")
def recency_model():
    """Churn driven by recency alone: everything else is drawn independently of the label."""
    frame = customers(2000, seed=1)
    rng = np.random.default_rng(2)
    recency = rng.uniform(1, 200, len(frame))
    frame["last_purchase_day"] = AS_OF - recency
    frame["first_purchase_day"] = AS_OF - rng.uniform(200, 700, len(frame))
    frame[["gap_mean_days", "gap_std_days", "last_gap_days"]] = np.nan  # no rhythm to share recency's signal
    y = (recency + np.random.default_rng(3).normal(0, 20, len(frame)) > 100).astype(int)
    return tiny_lgbm(prepare(frame), y), frame


def test_a_customer_unusual_only_in_recency_gets_the_recency_phrase_first(recency_model) -> None:
    model, frame = recency_model
    typical = frame.iloc[[0]].assign(last_purchase_day=AS_OF - 180, first_purchase_day=AS_OF - 480)
    x = prepare(typical)
    assert drivers(model, x)[0][0] == "no order for 180 days"


def test_pyfunc_returns_probability_and_drivers_matching_the_classifier(recency_model) -> None:
    model, frame = recency_model
    rows = frame.head(6).astype("float64")
    out = ChurnModel(model, "churn").predict(None, rows)
    assert list(out.columns) == ["churn_probability", "drivers"]
    np.testing.assert_allclose(
        out["churn_probability"], np.asarray(model.predict_proba(prepare(rows)))[:, 1], atol=1e-12
    )
    assert all(isinstance(d, list) and len(d) <= 3 and all(isinstance(s, str) for s in d) for d in out["drivers"])
    assert "Array(string)" in str(infer_signature(rows, out).outputs)


def test_pyfunc_scores_with_the_classifiers_own_feature_list(recency_model) -> None:
    """A version fitted before a feature existed still scores: the pyfunc selects the classifier's columns."""
    model, frame = recency_model
    older = [f for f in MODEL_FEATURES if f != "overdue_z"]
    x = prepare(frame.head(300))
    legacy = tiny_lgbm(x[older], (x["recency_days"] > 100).to_numpy().astype(int), n_estimators=20)
    out = ChurnModel(legacy, "churn").predict(None, frame.head(3))
    np.testing.assert_allclose(
        out["churn_probability"], np.asarray(legacy.predict_proba(x[older].head(3)))[:, 1], atol=1e-12
    )
