"""POST /recommend over HTTP: stock per store, guests, fallbacks, bad input, and served = offline."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd
import pytest
from http_checks import no_traceback

from serving.commerce.stock import Stock, latest_on_hand

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def recommender(built):
    from training.recommend.batch import load_recommender

    return load_recommender(built.ws, built.settings)[0]


@pytest.fixture(scope="module")
def out_of_stock(built) -> dict[str, set[str]]:
    """Per store, the products whose newest count is zero or that have no count there."""
    inventory = latest_on_hand(pd.read_parquet(built.ws.raw_table("inventory")))
    products = set(pd.read_parquet(built.ws.raw_table("products"))["product_id"])
    stocked = inventory[inventory["on_hand"] > 0].groupby("store_id")["product_id"].agg(set)
    return {store: products - stocked.get(store, set()) for store in inventory["store_id"].unique()}


def _recommend(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/recommend", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _ids(body: dict[str, Any]) -> list[str]:
    return [item["product_id"] for item in body["items"]]


def test_known_customer_cross_sell_at_a_store(http: httpx.Client, recommender, out_of_stock) -> None:
    x = recommender.reranker.interactions
    store = sorted(s for s in out_of_stock if s != "S00")[0]
    for customer in x.customer_ids[:20]:
        body = _recommend(http, customer_id=customer, store_id=store, mode="cross_sell", k=5)
        bought = {x.product_ids[i] for i in x.history(x.customer_index[customer])}
        assert body["customer_known"] and body["note"] == ""
        assert len(body["items"]) == 5 and len(set(_ids(body))) == 5
        assert not set(_ids(body)) & bought
        assert not set(_ids(body)) & out_of_stock[store]
        assert all(item["reason"] and item["name"] for item in body["items"])
        scores = [item["score"] for item in body["items"]]
        assert scores == sorted(scores, reverse=True)


def test_out_of_stock_products_are_dropped_where_the_model_would_rank_them(
    http: httpx.Client, recommender, out_of_stock
) -> None:
    """Requests whose unfiltered answer holds products out of stock at the store: the service leaves them out."""
    x = recommender.reranker.interactions
    filtered_away = 0
    for store, missing in sorted(out_of_stock.items()):
        for customer in x.customer_ids[:30]:
            unfiltered = [i.product_id for i in recommender.recommend(customer, [], "all", 5).items]
            served = _ids(_recommend(http, customer_id=customer, store_id=store, k=5))
            assert not set(served) & missing
            filtered_away += bool(set(unfiltered) & missing)
    assert filtered_away > 0, "no request had an out-of-stock product to remove: the check proved nothing"


def test_guest_cart(http: httpx.Client, recommender) -> None:
    cart = list(recommender.product_ids[:2])
    body = _recommend(http, cart=cart, mode="cross_sell", k=4)
    assert body["customer_id"] is None and not body["customer_known"]
    assert body["note"] == "guest: recommendations from the cart"
    assert len(body["items"]) == 4 and not set(_ids(body)) & set(cart)


def test_unknown_customer_falls_back_and_says_so(http: httpx.Client, recommender) -> None:
    cart = [recommender.product_ids[0]]
    body = _recommend(http, customer_id="NO-SUCH-CUSTOMER", cart=cart, k=3)
    assert not body["customer_known"]
    assert body["note"] == "unknown customer NO-SUCH-CUSTOMER: recommendations from the cart and popularity"
    assert _ids(body) == _ids(_recommend(http, cart=cart, k=3))


def test_up_sell_offers_higher_tiers_of_the_cart_category(http: httpx.Client, recommender) -> None:
    table = recommender.products.frame.set_index("product_id")
    anchor = table[table["tier"] == 0].index[0]
    body = _recommend(http, cart=[anchor], mode="up_sell", k=3)
    assert body["items"], body
    for item in body["items"]:
        assert table.loc[item["product_id"], "category"] == table.loc[anchor, "category"]
        assert table.loc[item["product_id"], "tier"] > 0
        assert item["reason"] == f"upgrade from {table.loc[anchor, 'name']}"


def test_served_equals_offline(http: httpx.Client, built, recommender) -> None:
    """The service's answer is the registered model's, given the same stock and the online features."""
    x = recommender.reranker.interactions
    available = Stock(built.ws).available(None, recommender.product_ids, "offline")
    requests = [(x.customer_ids[3], []), (x.customer_ids[7], [x.product_ids[5]]), (None, [x.product_ids[9]])]
    for customer, cart in requests:
        offline = recommender.recommend(customer, cart, "all", 6, available)
        served = _recommend(http, customer_id=customer, cart=cart, k=6)
        assert _ids(served) == [i.product_id for i in offline.items]
        assert [i["score"] for i in served["items"]] == pytest.approx([i.score for i in offline.items], abs=1e-5)
        assert [i["reason"] for i in served["items"]] == [i.reason for i in offline.items]


@pytest.mark.parametrize(
    ("body", "loc", "bad"),
    [
        pytest.param({"cart": ["NOPE-1", "NOPE-2"]}, ["body", "cart"], "NOPE-1", id="unknown-product"),
        pytest.param({"store_id": "NO-STORE"}, ["body", "store_id"], "NO-STORE", id="unknown-store"),
        pytest.param({"mode": "sideways"}, ["body", "mode"], "sideways", id="bad-mode"),
        pytest.param({"k": 0}, ["body", "k"], 0, id="k-zero"),
        pytest.param({"k": 101}, ["body", "k"], 101, id="k-too-big"),
        pytest.param({"cart": "P0001"}, ["body", "cart"], "P0001", id="cart-not-a-list"),
        pytest.param({"customer_id": ""}, ["body", "customer_id"], "", id="empty-customer"),
        pytest.param({"customers": ["C1"]}, ["body", "customers"], ["C1"], id="extra-field"),
    ],
)
def test_bad_input_is_422_naming_field_and_value(http: httpx.Client, body: dict, loc: list, bad: Any) -> None:
    response = http.post("/recommend", json=body)
    assert response.status_code == 422, response.text
    no_traceback(response)
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc
    assert detail[0]["input"] == bad


def test_unknown_products_are_all_named(http: httpx.Client) -> None:
    response = http.post("/recommend", json={"cart": ["NOPE-2", "NOPE-1"]})
    assert [d["input"] for d in response.json()["detail"]] == ["NOPE-1", "NOPE-2"]


def test_invalid_json_is_422(http: httpx.Client) -> None:
    response = http.post("/recommend", content=b'{"cart": [', headers={"content-type": "application/json"})
    assert response.status_code == 422
    no_traceback(response)


def test_an_order_for_the_last_units_takes_the_product_out_of_recommendations(http: httpx.Client, recommender) -> None:
    """The order API's database is the source of stock: reserving what a store has left hides the product there,
    and cancelling the order brings it back (within the service's stock check interval)."""
    import time

    customer, store = recommender.reranker.interactions.customer_ids[0], "S01"
    first = _ids(_recommend(http, customer_id=customer, store_id=store, k=5))[0]
    stock = http.get(f"/v1/products/{first}/availability")
    assert stock.status_code == 200, stock.text
    available = next(s["available"] for s in stock.json()["stores"] if s["store_id"] == store)
    body = {"channel": "store", "fulfilment": "in_store", "store_id": store}
    body["lines"] = [{"product_id": first, "quantity": available}]
    placed = http.post("/v1/orders", json=body, headers={"Idempotency-Key": f"last-units-{first}"})
    assert placed.status_code == 201, placed.text

    def recommended() -> set[str]:
        time.sleep(2.5)  # the service re-reads stock at most every 2 s
        return set(_ids(_recommend(http, customer_id=customer, store_id=store, k=5)))

    assert first not in recommended()
    cancelled = http.post(f"/v1/orders/{placed.json()['order_id']}/status", json={"status": "cancelled"})
    assert cancelled.status_code == 200, cancelled.text
    assert first in recommended()
