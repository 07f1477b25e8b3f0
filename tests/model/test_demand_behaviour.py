"""Known-answer checks: the demand model recovers the simulator's weekly and December seasonality, the lift of
promotions and the differences between stores (the simulator's ground truth, see features/simulate.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.sales import daily_sales, product_attributes
from features.simulate import simulate
from features.simvocab import WEEKLY
from training.demand import dataset, model

pytestmark = pytest.mark.model
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    """A dense little retailer: 12 products, 3 stores and an online shop, two years ending 2026-06-30."""
    return simulate(n_customers=4000, days=730, n_products=12, n_stores=3, seed=3)


def _series(world: dict[str, pd.DataFrame], level: str, end: pd.Timestamp) -> pd.DataFrame:
    sales = daily_sales(world["transactions"], world["products"], by_store=level == "product_store")
    sales = sales.assign(ds=sales["event_timestamp"] - DAY)
    sales["unique_id"] = sales["product_id"] + (dataset.SEP + sales["store_id"] if level == "product_store" else "")
    return dataset.frame(sales, product_attributes(world["products"], world["transactions"]), end)


def _fit_and_forecast(history: pd.DataFrame, end: pd.Timestamp, price_ratio: float = 1.0) -> pd.DataFrame:
    train = history[history["ds"] < end]
    fitted = model.fit(train, dataset.Spec(horizon=28, country="US"))
    return fitted.forecast(train, 28, price_ratio=price_ratio)


def test_weekly_profile_matches_the_simulator(world: dict[str, pd.DataFrame]) -> None:
    end = pd.Timestamp("2026-06-02")
    out = _fit_and_forecast(_series(world, "product", end + DAY * 28), end)
    profile = out.groupby(out["ds"].dt.dayofweek)["p50"].sum()
    assert np.corrcoef(profile.to_numpy(), WEEKLY)[0, 1] > 0.9


def test_december_peak_is_forecast(world: dict[str, pd.DataFrame]) -> None:
    history = _series(world, "product", pd.Timestamp("2026-01-01"))
    october = _fit_and_forecast(history, pd.Timestamp("2025-10-01"))["p50"].sum()
    december = _fit_and_forecast(history, pd.Timestamp("2025-12-01"))["p50"].sum()
    actual = {
        m: history[(history["ds"] >= pd.Timestamp(m)) & (history["ds"] < pd.Timestamp(m) + DAY * 28)]["y"].sum()
        for m in ("2025-10-01", "2025-12-01")
    }
    truth = actual["2025-12-01"] / actual["2025-10-01"]
    assert truth > 1.4  # the simulator's peak
    assert december / october > 1 + 0.5 * (truth - 1)  # at least half of the lift is forecast


def test_promotions_lift_the_forecast(world: dict[str, pd.DataFrame]) -> None:
    end = pd.Timestamp("2026-06-02")
    history = _series(world, "product", end)
    promoted = history["price_ratio"] < 0.95
    assert promoted.mean() > 0.01, "the simulator runs promotions"
    usual = _fit_and_forecast(history, end)["p50"].sum()
    on_promotion = _fit_and_forecast(history, end, price_ratio=0.7)["p50"].sum()
    assert on_promotion > 1.15 * usual


def test_store_differences_are_recovered(world: dict[str, pd.DataFrame]) -> None:
    end = pd.Timestamp("2026-06-02")
    history = _series(world, "product_store", end + DAY * 28)
    out = _fit_and_forecast(history, end).merge(history, on=["unique_id", "ds"])
    stores = out["unique_id"].str.split(dataset.SEP).str[1]
    shares = out.groupby(stores)[["p50", "y"]].sum()
    shares = shares / shares.sum()
    assert len(shares) == 4
    assert shares["p50"].idxmax() == shares["y"].idxmax() == "S00"  # the online shop sells most
    assert (shares["p50"] - shares["y"]).abs().max() < 0.05  # each store's share of the sales
    products = out.groupby(out["unique_id"].str.split(dataset.SEP).str[0])[["p50", "y"]].sum()
    assert products["p50"].corr(products["y"], method="spearman") > 0.8  # bottom-up product totals
