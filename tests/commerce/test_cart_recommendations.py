"""GET /v1/carts/{id}/recommendations with stub models: cross-sell and up-sell in stock at the cart's store, the
online fallback, products the model does not know, no model at all, and the cart API's ownership rules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from fastapi.testclient import TestClient
from modelstubs import CATALOGUE, StubRecommender, StubRuntime, StubStock
from shopdata import key, stock_shop
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from retail.db import connect
from serving import auth
from serving.commerce import cart_merge, carts
from serving.commerce.app import create_app
from serving.commerce.cart_payloads import CartIn, CartLineIn
from serving.commerce.tables import Product
from serving.endpoints.cart_recs import router as cart_recs_router


class CartRecommender(StubRecommender):
    """The stub, recording the cart each call was given; up-sell items say which product they upgrade (P2 -> P1)."""

    def recommend(self, customer_id: str | None, cart: Sequence[str], mode: str, *args: Any, **kw: Any) -> Any:
        answer = super().recommend(customer_id, cart, mode, *args, **kw)
        self.calls[-1]["cart"] = list(cart)
        for item in answer.items:
            if mode == "up_sell" and item["product_id"] == "P1":
                item["reason"] = f"upgrade from {CATALOGUE['P2'][0]}"
        return answer


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


@pytest.fixture
def client(shop: Engine) -> Iterator[TestClient]:
    """The order API with the cart recommendations' router (as the service composes it), without a runtime."""
    app = create_app()
    app.include_router(cart_recs_router)
    app.state.db_engine = shop
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def cart_with(
    engine: Engine, products: Sequence[str], customer_id: str | None = "C1", store_id: str | None = None
) -> str:
    """A cart (the customer's, or a guest's when None) at `store_id` holding one of each product."""
    if customer_id is None:
        cart = carts.create_guest(engine, CartIn.model_validate({"store_id": store_id}))
    else:
        cart, _ = carts.customer_cart(engine, customer_id, store_id)
    for version, product_id in enumerate(products, start=cart.version):
        carts.set_line(
            engine, cart.cart_id, version, CartLineIn.model_validate({"product_id": product_id, "quantity": 1})
        )
    return cart.cart_id


def recs(client: TestClient, engine: Engine, cart_id: str, role: str = "admin", **binding: str) -> dict[str, Any]:
    answer = client.get(f"/v1/carts/{cart_id}/recommendations", headers=key(engine, role, **binding))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_cross_sell_and_up_sell_in_stock_at_the_carts_store(client: TestClient, shop: Engine) -> None:
    recommender = CartRecommender()
    stock = StubStock({"S1": {"P1", "P2", "P3"}, None: {"P1", "P2", "P3"}})
    client.app.state.runtime = StubRuntime(stock, recommender=recommender)  # type: ignore[attr-defined]
    cart_id = cart_with(shop, ["P2"], store_id="S1")
    body = recs(client, shop, cart_id)
    # cross-sell P3 (P2 is in the cart); up-sell P1, which upgrades the cart's P2
    assert [(i["kind"], i["product_id"], i["upgrades"]) for i in body["items"]] == [
        ("cross_sell", "P3", None),
        ("up_sell", "P1", "P2"),
    ]
    assert body["items"][0]["reason"] == "cross_sell reason for P3" and body["items"][0]["price"] == 19.99
    assert body["store_id"] == "S1" and stock.asked == ["S1"] and body["model_version"] == "7"
    assert body["cart_id"] == cart_id and body["version"] == 2 and body["notes"] == []
    assert [(c["customer_id"], c["mode"], c["cart"]) for c in recommender.calls] == [
        ("C1", "cross_sell", ["P2"]),
        ("C1", "up_sell", ["P2"]),
    ]
    assert recommender.calls[0]["features"] == {"orders_90d": 4.0}  # the customer's online features were read
    stock.in_stock["S1"] = {"P2"}  # nothing else at S1 now
    assert recs(client, shop, cart_id)["items"] == []


def test_an_unknown_store_falls_back_to_online_and_new_products_are_left_out(client: TestClient, shop: Engine) -> None:
    recommender = CartRecommender()
    stock = StubStock({None: {"P1", "P3"}})  # S2 is not tracked by the stock
    client.app.state.runtime = StubRuntime(stock, recommender=recommender)  # type: ignore[attr-defined]
    with Session(shop) as s, s.begin():
        s.add(Product(product_id="P9", name="new arrival", price_cents=500))
    cart_id = cart_with(shop, ["P9", "P2"], customer_id=None, store_id="S2")
    body = recs(client, shop, cart_id, "app")
    assert body["store_id"] is None and stock.asked == ["S2", None]
    assert [(i["kind"], i["product_id"]) for i in body["items"]] == [("cross_sell", "P3"), ("up_sell", "P1")]
    assert [c["cart"] for c in recommender.calls] == [["P2"], ["P2"]] and recommender.calls[0]["customer_id"] is None
    assert any("store 'S2' has no stock data" in n for n in body["notes"])
    assert any("P9" in n and "does not know" in n for n in body["notes"])


def test_without_a_recommender_the_answer_is_empty_with_a_note(client: TestClient, shop: Engine) -> None:
    cart_id = cart_with(shop, ["P1"])
    body = recs(client, shop, cart_id)
    assert body["items"] == [] and body["model_version"] is None
    assert body["notes"] == ["no models in this process (the order API runs without the model service)"]
    client.app.state.runtime = StubRuntime()  # type: ignore[attr-defined]
    assert recs(client, shop, cart_id)["notes"] == ["no recommender model is loaded"]  # operators read why
    assert recs(client, shop, cart_id, "sales_rep")["notes"] == ["recommendations unavailable"]
    client.app.state.runtime = StubRuntime(loading=True, recommender=CartRecommender())  # type: ignore[attr-defined]
    assert recs(client, shop, cart_id)["notes"] == ["models and features are still loading"]


def test_a_merged_cart_has_none_and_ownership_is_the_cart_apis(client: TestClient, shop: Engine) -> None:
    client.app.state.runtime = StubRuntime(recommender=CartRecommender())  # type: ignore[attr-defined]
    mine = cart_with(shop, ["P1"])
    guest = cart_with(shop, ["P2"], customer_id=None)
    cart_merge.merge(shop, guest, "C1")
    body = recs(client, shop, guest, "customer", customer_id="C2")  # a guest cart: whoever holds its id
    assert body["items"] == [] and f"merged into cart {mine!r}" in body["notes"][0]
    assert recs(client, shop, mine, "customer", customer_id="C1")["items"]
    answer = client.get(f"/v1/carts/{mine}/recommendations", headers=key(shop, "customer", customer_id="C2"))
    assert answer.status_code == 403
    assert client.get("/v1/carts/nosuch/recommendations", headers=key(shop, "admin")).status_code == 404
    assert client.get(f"/v1/carts/{mine}/recommendations?k=0", headers=key(shop, "admin")).status_code == 422
    assert client.get(f"/v1/carts/{mine}/recommendations", headers=key(shop, "marketing")).status_code == 403
