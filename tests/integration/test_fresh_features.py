"""Orders keep features fresh: a paid order reaches /churn, /recommend and the profile without a feature build,
and the next build writes the same rows the push wrote.

Runs its own service on a copy of the shared workspace: a push moves the churn model's reference day for
everybody, which the shared service's tests must not see.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from servers import copy_of, serving

from features import fresh
from features.catalog import CUSTOMER_FEATURES, SENTIMENT_FEATURES
from retail.settings import get_settings
from retail.workspace import Workspace

WAIT_S = 20.0


@pytest.fixture(scope="module")
def workspace(built, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.at(copy_of(built.ws.root, tmp_path_factory.mktemp("fresh") / "ws"))


@pytest.fixture(scope="module")
def client(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    from retail import db
    from serving.auth import create_key

    key, _ = create_key(db.engine(workspace, get_settings(workspace=workspace.root)), "admin", name="fresh features")
    with serving(workspace.root, tmp_path_factory.mktemp("fresh-serve")) as base:
        with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:
            yield http


def _churn(http: httpx.Client, customer_id: str) -> dict:
    response = http.post("/churn", json={"customer_ids": [customer_id]})
    assert response.status_code == 200, response.text
    return response.json()["scores"][0]


def _cross_sell(http: httpx.Client, customer_id: str) -> list[str]:
    response = http.post("/recommend", json={"customer_id": customer_id, "mode": "cross_sell", "k": 10})
    assert response.status_code == 200, response.text
    return [item["product_id"] for item in response.json()["items"]]


def _risky_customer(http: httpx.Client, workspace: Workspace) -> str:
    """A customer the models know whose churn risk is highest among a sample."""
    table = pd.read_parquet(workspace.features_dir / "customer_products.parquet")
    ids = table["customer_id"].tolist()[:300]
    scores = http.post("/churn", json={"customer_ids": ids}).json()["scores"]
    return max(scores, key=lambda s: s["churn_probability"])["customer_id"]


@pytest.fixture(scope="module")
def ordered(client: httpx.Client, workspace: Workspace) -> dict:
    """A high-risk customer orders their top cross-sell product and pays; waits until /churn shows it."""
    customer = _risky_customer(client, workspace)
    before = _churn(client, customer)
    product = _cross_sell(client, customer)[0]  # without a store: in stock online
    stores = client.get(f"/v1/products/{product}/availability").json()["stores"]
    online = next(s["store_id"] for s in stores if s["kind"] == "online" and s["available"] > 0)
    body = {
        "customer_id": customer,
        "channel": "web",
        "fulfilment": "ship",
        "store_id": online,
        "lines": [{"product_id": product, "quantity": 1}],
    }
    placed = client.post("/v1/orders", json=body, headers={"Idempotency-Key": f"fresh-{customer}"})
    assert placed.status_code == 201, placed.text
    paid = client.post(f"/v1/orders/{placed.json()['order_id']}/status", json={"status": "paid"})
    assert paid.status_code == 200, paid.text
    started = time.monotonic()
    after = _churn(client, customer)
    while after["recency_days"] != 0 and time.monotonic() - started < WAIT_S:
        time.sleep(0.05)
        after = _churn(client, customer)
    return {"customer": customer, "product": product, "before": before, "after": after}


def test_churn_sees_the_order_without_a_build(ordered: dict) -> None:
    before, after = ordered["before"], ordered["after"]
    assert before["recency_days"] > 0
    assert after["recency_days"] == 0, f"no fresh features within {WAIT_S:.0f}s: {after}"
    assert after["churn_probability"] < before["churn_probability"]


def test_cross_sell_no_longer_offers_the_product_bought(client: httpx.Client, ordered: dict) -> None:
    assert ordered["product"] not in _cross_sell(client, ordered["customer"])
    profile = client.get(f"/v1/customers/{ordered['customer']}/profile")
    assert profile.status_code == 200, profile.text
    items = profile.json()["recommendations"]["items"]
    offered = [item["product_id"] for item in items if item["kind"] == "cross_sell"]
    assert ordered["product"] not in offered


def _sentiment(workspace: Workspace, customer: str) -> dict:
    from features import store

    names = [f"customer_sentiment:{n}" for n in SENTIMENT_FEATURES]
    online = store.feature_store(workspace).get_online_features(features=names, entity_rows=[{"customer_id": customer}])
    return {n: v[0] for n, v in online.to_dict().items() if n in SENTIMENT_FEATURES}


@pytest.fixture(scope="module")
def complained(client: httpx.Client, ordered: dict, workspace: Workspace) -> dict:
    """The same customer leaves negative feedback; waits until the online store counts it."""
    customer = ordered["customer"]
    before = _sentiment(workspace, customer)
    body = {"customer_id": customer, "product_id": ordered["product"], "text": "Broke after one day. Awful."}
    posted = client.post("/v1/feedback", json=body)
    assert posted.status_code == 201, posted.text
    assert posted.json()["score"] is not None  # the champion scored it at once
    started = time.monotonic()
    after = _sentiment(workspace, customer)
    while after["reviews_90d"] == before["reviews_90d"] and time.monotonic() - started < WAIT_S:
        time.sleep(0.05)
        after = _sentiment(workspace, customer)
    return {"before": before, "after": after, "score": posted.json()["score"]}


def test_feedback_moves_the_customers_sentiment_features(complained: dict) -> None:
    before, after = complained["before"], complained["after"]
    assert after["reviews_90d"] == (before["reviews_90d"] or 0) + 1
    assert after["negative_share_90d"] is not None


def test_next_build_writes_what_was_pushed(
    ordered: dict, complained: dict, workspace: Workspace, tmp_path: Path
) -> None:
    """Export the order's lines to the raw data and rebuild, on a copy: the rebuilt rows are the pushed ones."""
    from features import store
    from features.build import build_features
    from retail import db
    from serving.commerce.export import export_transactions
    from serving.commerce.feedback import scored_rows
    from training.sentiment.batch import review_scores

    customer = ordered["customer"]
    online = store.feature_store(workspace)
    pushed = online.get_online_features(
        features=[f"customer_features:{n}" for n in CUSTOMER_FEATURES] + ["customer_products:products_bought"],
        entity_rows=[{"customer_id": customer}],
    ).to_dict()
    pushed_sentiment = _sentiment(workspace, customer)

    rebuilt_ws = Workspace.at(copy_of(workspace.root, tmp_path / "rebuilt"))
    settings = get_settings(workspace=rebuilt_ws.root)
    assert export_transactions(db.engine(rebuilt_ws, settings), rebuilt_ws) >= 1
    build_features(
        rebuilt_ws, settings, feedback=scored_rows(db.engine(rebuilt_ws, settings)), review_scores=review_scores
    )
    end = pd.Timestamp(rebuilt_ws.read_meta()["features_as_of"])
    table = fresh.latest(pd.read_parquet(rebuilt_ws.features_dir / "customer_features.parquet"), end)
    row = table[table["customer_id"] == customer]
    np.testing.assert_allclose(
        np.array([pushed[n][0] for n in CUSTOMER_FEATURES], dtype="float64"),
        row[list(CUSTOMER_FEATURES)].to_numpy(dtype="float64")[0],
        rtol=1e-6,
        equal_nan=True,
    )
    products = pd.read_parquet(rebuilt_ws.features_dir / "customer_products.parquet").set_index("customer_id")
    assert list(pushed["products_bought"][0]) == list(products.loc[customer, "products_bought"])
    assert ordered["product"] in pushed["products_bought"][0]
    sentiment = fresh.latest(pd.read_parquet(rebuilt_ws.features_dir / "customer_sentiment.parquet"), end)
    rebuilt_sentiment = sentiment[sentiment["customer_id"] == customer][list(SENTIMENT_FEATURES)]
    np.testing.assert_allclose(
        np.array([pushed_sentiment[n] for n in SENTIMENT_FEATURES], dtype="float64"),
        rebuilt_sentiment.to_numpy(dtype="float64")[0],
        rtol=1e-5,
        equal_nan=True,
    )
