"""No feature or label from after a cutoff reaches a training row (real Feast point-in-time joins)."""

from __future__ import annotations

import pandas as pd
import pytest

from features.catalog import CUSTOMER_FEATURES
from features.transforms import customer_features
from training.churn import dataset

pytestmark = pytest.mark.integration


def _tx(built) -> pd.DataFrame:
    return pd.read_parquet(built.ws.raw_table("transactions"))


def test_feast_features_at_a_cutoff_equal_features_from_data_before_it(built) -> None:
    tx = _tx(built)
    cutoff = tx["ts"].min().floor("D") + pd.Timedelta(days=200)
    labelled = dataset.labels(tx, cutoff, pd.Timedelta(days=60))
    from_feast = dataset.features_at(built.ws, labelled).set_index("customer_id")

    products = pd.read_parquet(built.ws.raw_table("products"))
    before = customer_features(tx[tx["ts"] < cutoff], products)
    before = before[before["event_timestamp"] <= cutoff]
    newest = before.sort_values("event_timestamp").groupby("customer_id").tail(1).set_index("customer_id")
    expected = newest.loc[from_feast.index, list(CUSTOMER_FEATURES)]
    pd.testing.assert_frame_equal(
        from_feast[list(CUSTOMER_FEATURES)].astype("float64"), expected.astype("float64"), check_names=False
    )


def test_labels_come_only_from_the_horizon_after_the_cutoff(built) -> None:
    tx = _tx(built)
    cutoff = tx["ts"].min().floor("D") + pd.Timedelta(days=250)
    horizon = pd.Timedelta(days=60)
    full = dataset.labels(tx, cutoff, horizon)
    inside = tx[tx["ts"] < cutoff + horizon]
    pd.testing.assert_frame_equal(full, dataset.labels(inside, cutoff, horizon))
    # a purchase inside the horizon flips the label; one after it does not
    customer = full.loc[full["churned"] == 1, "customer_id"].iloc[0]
    row = tx.iloc[[0]].assign(customer_id=customer, quantity=1)
    late = pd.concat([tx, row.assign(ts=cutoff + horizon)])
    early = pd.concat([tx, row.assign(ts=cutoff)])
    assert dataset.labels(late, cutoff, horizon).set_index("customer_id").loc[customer, "churned"] == 1
    assert dataset.labels(early, cutoff, horizon).set_index("customer_id").loc[customer, "churned"] == 0


def test_training_run_respects_as_of(built) -> None:
    from training import tracking

    client = tracking.connect(built.ws, built.settings)
    run = client.get_run(client.get_model_version("churn", built.version).run_id)
    params = run.data.params
    as_of, horizon = pd.Timestamp(params["as_of"]), pd.Timedelta(days=int(params["horizon_days"]))
    evaluation = pd.Timestamp(params["eval_cutoff"])
    assert evaluation + horizon <= as_of
    assert all(pd.Timestamp(c) + horizon <= evaluation for c in params["train_cutoffs"].split(","))
