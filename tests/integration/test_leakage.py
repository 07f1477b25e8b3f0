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
    # the registered refit learns from every cutoff whose labels end by as_of, the evaluation cutoff included
    refit = [pd.Timestamp(c) for c in params["refit_train_cutoffs"].split(",")]
    assert max(refit) == evaluation and all(c + horizon <= as_of for c in refit)


def test_train_recommender_as_of_uses_nothing_from_that_day_on(built, tmp_path) -> None:
    """Scramble every transaction from T on and rebuild the features: a recommender trained as of T is the same."""
    import shutil

    from features.build import build_features
    from features.rawio import write_tables
    from retail.settings import Settings
    from retail.workspace import Workspace
    from training import run
    from training.recommend.family import RecommenderOptions
    from training.recommend.rerank import RerankConfig
    from training.sentiment.batch import review_scores

    light = RerankConfig(n_estimators=20, learning_rate=0.2, earlier_cutoffs_days=(), later_cutoffs_days=())
    tx = _tx(built)
    as_of = tx["ts"].max().floor("D") - pd.Timedelta(days=40)
    models = []
    for scramble in (False, True):
        root = tmp_path / f"ws{int(scramble)}"
        shutil.copytree(built.ws.raw_dir, Workspace.at(root).raw_dir)
        ws, settings = Workspace.at(root).ensure(), Settings(workspace=root, tracking_uri=None)
        if scramble:
            changed = tx.copy()
            late = changed["ts"] >= as_of
            changed.loc[late, "product_id"] = changed.loc[late, "product_id"].sample(frac=1, random_state=3).to_numpy()
            changed.loc[late, "quantity"] = changed.loc[late, "quantity"] * 5
            tables = {p.stem: pd.read_parquet(p) for p in ws.raw_dir.glob("*.parquet")}  # every table, rewritten
            write_tables(ws.raw_dir, {**tables, "transactions": changed})
        build_features(ws, settings, review_scores=review_scores)
        result = run.train("recommender", ws, settings, as_of, 30, RecommenderOptions(config=light))
        from training.recommend.batch import load_recommender, recommend_batch

        models.append((result.metrics, load_recommender(ws, settings, result.alias)[0]))  # champion or challenger
    (metrics_a, a), (metrics_b, b) = models
    assert {k: v for k, v in metrics_a.items() if k != "train_seconds"} == {
        k: v for k, v in metrics_b.items() if k != "train_seconds"
    }
    customers = list(a.reranker.interactions.customer_ids[:25])
    for mode in ("all", "cross_sell", "up_sell"):
        assert recommend_batch(a, customers, mode, 5).equals(recommend_batch(b, customers, mode, 5))
    cart = [a.product_ids[0]]
    assert a.recommend(None, cart, "all", 5) == b.recommend(None, cart, "all", 5)
