"""The simulator: seeded, contract-valid, and carrying the structure the models are meant to find."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from features.contract import TABLES, validate
from features.simulate import ground_truth, simulate

END = pd.Timestamp("2026-06-30")
ARGS = {"n_customers": 1500, "days": 730, "seed": 3}

POSITIVE = {"love", "great", "excellent", "happy", "fantastic", "recommend"}
NEGATIVE = {"disappointed", "poor", "terrible", "broke", "awful", "waste", "returned", "avoid"}


@pytest.fixture(scope="module")
def world() -> dict[str, pd.DataFrame]:
    return simulate(**ARGS)


@pytest.fixture(scope="module")
def truth() -> dict[str, pd.DataFrame]:
    return ground_truth(**ARGS)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = simulate(200, 365, seed=1), simulate(200, 365, seed=1), simulate(200, 365, seed=2)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name])
    assert not a["transactions"].equals(c["transactions"])
    assert not a["reviews"].equals(c["reviews"])


def test_every_table_is_present_and_valid(world: dict[str, pd.DataFrame]) -> None:
    assert set(world) == set(TABLES)
    for name, df in world.items():
        assert len(df) > 0, name
        pd.testing.assert_frame_equal(validate(name, df, name), df)  # already in contract dtypes and columns
        assert set(df.columns) == set(TABLES[name].column_names), name


def test_ids_and_time_window(world: dict[str, pd.DataFrame]) -> None:
    tx = world["transactions"]
    start = END - pd.Timedelta(days=ARGS["days"])
    for name in ("transactions", "reviews", "inventory"):
        ts = world[name]["ts"]
        assert ts.min() >= start and ts.max() <= END, name
    assert tx["order_id"].str.fullmatch(r"[OR]\d{7}").all()
    assert world["customers"]["customer_id"].str.fullmatch(r"C\d{5}").all()
    assert world["products"]["product_id"].str.fullmatch(r"P\d{4}").all()
    stores = world["stores"].set_index("store_id")
    assert stores.loc["S00", "kind"] == "online" and (stores.drop("S00")["kind"] == "store").all()
    assert set(tx["store_id"]) <= set(stores.index)
    assert (tx["channel"] == np.where(tx["store_id"] == "S00", "online", "store")).all()
    assert tx["customer_id"].isna().any()  # some guest purchases


def test_volume_per_active_customer_year(world: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]) -> None:
    start = END - pd.Timedelta(days=ARGS["days"])
    first = world["customers"]["signup_date"].clip(lower=start)
    last = truth["customers"]["churn_date"].fillna(END)
    years = ((last - first).dt.days.clip(lower=0) / 365).sum()
    sales = world["transactions"].query("quantity > 0")
    assert 10 <= len(sales) / years <= 30


def test_churners_stop_buying_and_loyal_customers_do_not(
    world: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]
) -> None:
    sales = world["transactions"].query("quantity > 0")
    last = sales.groupby("customer_id")["ts"].max()
    churn = truth["customers"].set_index("customer_id")["churn_date"].reindex(last.index)
    assert (last[churn.notna()] < churn[churn.notna()]).all()  # nobody buys after leaving
    recent = last > END - pd.Timedelta(days=180)
    left_early = churn < END - pd.Timedelta(days=180)
    assert left_early.sum() > 100 and not recent[left_early].any()  # some stopped well before the end
    assert recent[churn.isna()].mean() > 0.75  # the others are still buying


def test_weekend_and_december_lift(world: dict[str, pd.DataFrame]) -> None:
    orders = world["transactions"].query("quantity > 0").drop_duplicates("order_id")
    per_day = orders.groupby(orders["ts"].dt.normalize()).size()
    per_day = per_day.reindex(pd.date_range(per_day.index.min(), END - pd.Timedelta(days=1)), fill_value=0)
    weekend = per_day.index.dayofweek >= 5
    assert per_day[weekend].mean() > 1.2 * per_day[~weekend].mean()
    december = per_day.index.month == 12
    assert per_day[december].mean() > 1.3 * per_day[~december & (per_day.index.month != 11)].mean()


def test_complements_co_occur_more_than_chance(world: dict[str, pd.DataFrame], truth: dict[str, pd.DataFrame]) -> None:
    sales = world["transactions"].query("quantity > 0 and customer_id.notna()")
    orders = sales.groupby("order_id")["product_id"].agg(set)
    n_orders = len(orders)
    share = sales.drop_duplicates(["order_id", "product_id"])["product_id"].value_counts() / n_orders
    lifts = []
    for a, b in truth["complements"].itertuples(index=False):
        with_a = orders[orders.map(lambda items, a=a: a in items)]
        if len(with_a) >= 30 and b in share:
            lifts.append(with_a.map(lambda items, b=b: b in items).mean() / share[b])
    assert len(lifts) >= 20
    assert np.median(lifts) > 5


def test_review_tone_follows_rating_and_reviewers_bought(world: dict[str, pd.DataFrame]) -> None:
    reviews = world["reviews"]
    assert set(reviews["rating"]) == {1, 2, 3, 4, 5}
    words = reviews["text"].str.lower().map(lambda t: set(re.findall(r"[a-z]+", t)))
    positive = words.map(lambda w: bool(w & POSITIVE))
    negative = words.map(lambda w: bool(w & NEGATIVE))
    high, low, mid = reviews["rating"] >= 4, reviews["rating"] <= 2, reviews["rating"] == 3
    assert (positive & ~negative)[high].all()
    assert (negative & ~positive)[low].all()
    assert not positive[mid].any()
    sales = world["transactions"].query("quantity > 0")
    first = sales.groupby(["customer_id", "product_id"])["ts"].min()
    bought = first.reindex(pd.MultiIndex.from_frame(reviews[["customer_id", "product_id"]]))
    assert bought.notna().all() and (bought.to_numpy() < reviews["ts"].to_numpy()).all()


def test_catalogue_promotions_returns_and_stock(world: dict[str, pd.DataFrame]) -> None:
    products = world["products"]
    assert products["category"].nunique() == 10
    by_tier = products.groupby(["category", "tier"])["list_price"].agg(["min", "max"]).unstack()
    assert (by_tier[("max", "good")] < by_tier[("min", "better")]).all()
    assert (by_tier[("max", "better")] < by_tier[("min", "best")]).all()
    tx = world["transactions"].merge(products[["product_id", "list_price"]], on="product_id")
    sales = tx[tx["quantity"] > 0]
    promo = sales["unit_price"] < sales["list_price"] - 1e-9
    assert 0.01 < promo.mean() < 0.2
    assert sales.loc[promo, "quantity"].mean() > sales.loc[~promo, "quantity"].mean()
    returns = tx[tx["quantity"] < 0]
    assert returns["order_id"].str.startswith("R").all() and 0.005 < len(returns) / len(sales) < 0.1
    inventory = world["inventory"]
    assert inventory["ts"].nunique() >= 3 and 0 < (inventory["on_hand"] == 0).mean() < 0.2


def test_small_world_for_unit_tests() -> None:
    tables = simulate(n_customers=200, days=365)
    assert len(tables["customers"]) == 200 and len(tables["transactions"]) > 500
