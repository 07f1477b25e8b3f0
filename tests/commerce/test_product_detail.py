"""Product pages over HTTP on both databases: seeding specifications, one product, a comparison and upgrades, with
and without a recommender (stubbed)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from modelstubs import StubRuntime, StubScorer, StubStock
from shopdata import key
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from features.rawio import write_tables
from retail.db import connect
from retail.workspace import Workspace
from serving import auth
from serving.commerce import feedback, seed
from serving.commerce.app import create_app
from serving.commerce.feedback import FeedbackIn
from serving.commerce.tables import Product, ProductAttribute
from serving.endpoints.products import router as products_router

# product -> (name, category, brand, tier, list price, specifications in order)
CATALOGUE: dict[str, tuple[str, str, str | None, str | None, float, list[tuple[str, str]]]] = {
    "K1": (
        "Acme kettle Basic",
        "kitchen",
        "Acme",
        "good",
        20.0,
        [("type", "kettle"), ("colour", "black"), ("material", "plastic"), ("warranty", "1 year")],
    ),  # noqa: E501
    "K2": (
        "Acme kettle Select",
        "kitchen",
        "Acme",
        "better",
        32.0,
        [("type", "kettle"), ("colour", "black"), ("material", "stainless steel"), ("warranty", "2 years")],
    ),  # noqa: E501
    "K3": (
        "Umbra kettle Premium",
        "kitchen",
        "Umbra",
        "best",
        52.0,
        [("type", "kettle"), ("material", "copper"), ("warranty", "5 years"), ("capacity", "1.7 l")],
    ),  # noqa: E501
    "K4": (
        "Acme kettle Select+",
        "kitchen",
        "Acme",
        "better",
        30.0,
        [("type", "kettle"), ("colour", "white"), ("material", "plastic"), ("warranty", "2 years")],
    ),  # noqa: E501
    "F1": (
        "Acme frying pan Premium",
        "kitchen",
        "Acme",
        "best",
        60.0,
        [("type", "frying pan"), ("material", "cast iron")],
    ),  # noqa: E501
    "T1": ("Loose tea", "coffee & tea", None, None, 4.0, []),
}
STOCK = {("WEB", "K1"): 5, ("S1", "K1"): 2, ("WEB", "K2"): 4, ("S1", "K2"): 0, ("S1", "K3"): 1, ("WEB", "K4"): 3}
EVERY_ROLE = ("admin", "ops", "marketing", "planner", "sales_rep", "store", "customer", "app")


def raw_tables() -> dict[str, pd.DataFrame]:
    ids = list(CATALOGUE)
    products = pd.DataFrame(
        {
            "product_id": ids,
            "name": [CATALOGUE[p][0] for p in ids],
            "category": [CATALOGUE[p][1] for p in ids],
            "brand": [CATALOGUE[p][2] for p in ids],
            "tier": [CATALOGUE[p][3] for p in ids],
            "list_price": [CATALOGUE[p][4] for p in ids],
            "description": [f"about {p}" if CATALOGUE[p][3] else None for p in ids],
        }
    )
    specs = [(p, n, v) for p in ids for n, v in CATALOGUE[p][5]]
    ts = pd.to_datetime(["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"])
    return {
        "transactions": pd.DataFrame(
            {
                "order_id": ["a", "b", "c", "d"],
                "customer_id": ["C1", "C2", "C1", "C2"],
                "product_id": ["K1", "K1", "K1", "K2"],
                "ts": ts,
                "quantity": [2, 1, -1, 3],  # K1: 3 sold, one came back
                "unit_price": [20.0, 20.0, 20.0, 32.0],
                "store_id": ["WEB", "S1", "S1", "WEB"],
            }
        ),
        "products": products,
        "product_attributes": pd.DataFrame(specs, columns=["product_id", "name", "value"]),
        "stores": pd.DataFrame(
            {"store_id": ["WEB", "S1"], "name": ["web", "high street"], "kind": ["online", "store"]}
        ),
        "reviews": pd.DataFrame(
            {
                "review_id": ["r1", "r2", "r3"],
                "customer_id": ["C1", "C2", "C2"],
                "product_id": ["K1", "K1", "K2"],
                "ts": ts[1:],
                "rating": [4, 5, 2],
                "text": ["good", "great", None],
            }
        ),
        "inventory": pd.DataFrame(
            {
                "store_id": [s for s, _ in STOCK],
                "product_id": [p for _, p in STOCK],
                "on_hand": list(STOCK.values()),
                "ts": pd.Timestamp("2026-05-05"),
            }
        ),
    }


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace.at(tmp_path / "ws")
    write_tables(workspace.raw_dir, raw_tables())
    return workspace


@pytest.fixture
def shop(db_url: str, ws: Workspace) -> Iterator[Engine]:
    auth.forget()
    engine = connect(db_url)
    seed.seed(engine, ws)
    yield engine
    auth.forget()


@pytest.fixture
def client(shop: Engine) -> Iterator[TestClient]:
    """The order API with the product pages' router (as the service composes it), without a runtime."""
    app = create_app()
    app.include_router(products_router)
    app.state.db_engine = shop
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def get(client: TestClient, engine: Engine, path: str, status: int = 200, role: str = "admin") -> Any:
    binding = {"customer": {"customer_id": "C1"}, "store": {"store_id": "S1"}}.get(role, {})
    answer = client.get(path, headers=key(engine, role, **binding))
    assert answer.status_code == status, answer.text
    return answer.json()


class Recommender:
    """A recommender over this catalogue: cross-sell T1 then F1, up-sell K2, K3, K4, F1 in that order."""

    feature_service = "recommender_service"
    feature_names = ("orders_90d",)
    product_ids = tuple(CATALOGUE)
    version = "11"
    RANKED = {"cross_sell": ("T1", "F1"), "up_sell": ("K2", "K3", "K4", "F1")}

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def knows(self, customer_id: str | None) -> bool:
        return False

    def recommend(
        self, customer_id: str | None, cart: Sequence[str], mode: str, k: int, available: Any, *_: Any
    ) -> SimpleNamespace:
        self.calls.append({"cart": list(cart), "mode": mode, "k": k})
        allowed = {p for p, a in zip(self.product_ids, available, strict=True) if a} if available is not None else None
        ranked = [p for p in self.RANKED[mode] if p not in cart and (allowed is None or p in allowed)][:k]
        items = [
            {"product_id": p, "name": CATALOGUE[p][0], "category": CATALOGUE[p][1], "price": CATALOGUE[p][4]}
            | {"score": 1.0 / (i + 1), "reason": f"{mode} #{i + 1}"}
            for i, p in enumerate(ranked)
        ]
        return SimpleNamespace(items=items, customer_known=False, note="")


class Reviews:
    """The online store's product sentiment: K1 has 8 reviews in the window, nothing else has any."""

    def get_online_features(self, features: list[str], entity_rows: list[dict[str, str]]) -> SimpleNamespace:
        assert all(f.startswith("product_sentiment:") for f in features)
        ids = [row["product_id"] for row in entity_rows]
        values = {
            "sentiment_mean_365d": [0.8 if p == "K1" else None for p in ids],
            "negative_share_365d": [0.125 if p == "K1" else None for p in ids],
            "reviews_365d": [8.0 if p == "K1" else None for p in ids],
        }
        return SimpleNamespace(to_dict=lambda: values)


def with_models(client: TestClient, in_stock: dict[str | None, set[str]] | None = None) -> Recommender:
    recommender = Recommender()
    stock = StubStock(in_stock or {None: set(CATALOGUE), "S1": {"K1", "K3", "T1"}})
    runtime = StubRuntime(stock, recommender=recommender)
    runtime.store = Reviews()  # type: ignore[assignment]
    client.app.state.runtime = runtime  # type: ignore[attr-defined]
    return recommender


# --- seeding ---------------------------------------------------------------------------------------------------


def test_seed_fills_brand_tier_description_counts_and_specifications(shop: Engine, ws: Workspace) -> None:
    with Session(shop) as s:
        k1 = s.get(Product, "K1")
        assert k1 is not None and (k1.brand, k1.tier, k1.description) == ("Acme", "good", "about K1")
        assert (k1.rating_count, k1.rating_sum, k1.sold_units) == (2, 9, 3)  # returns are not sales
        t1 = s.get(Product, "T1")
        assert t1 is not None and (t1.brand, t1.tier, t1.rating_count, t1.sold_units) == (None, None, 0, 0)
        specs = s.execute(
            select(ProductAttribute.name, ProductAttribute.value, ProductAttribute.position)
            .where(ProductAttribute.product_id == "K3")
            .order_by(ProductAttribute.position)
        ).all()
    assert [tuple(r) for r in specs] == [(n, v, i) for i, (n, v) in enumerate(CATALOGUE["K3"][5])]
    assert seed.seed(shop, ws) == {
        "customers": 0,
        "products": 0,
        "stores": 0,
        "inventory": 0,
        "product_attributes": 0,
    }


def test_a_second_seed_completes_products_recorded_without_details(shop: Engine, ws: Workspace) -> None:
    with Session(shop) as s, s.begin():  # as a database seeded before the catalogue had details
        s.execute(update(Product).values(brand=None, tier=None, description=None, rating_count=0, rating_sum=0))
        s.execute(update(Product).where(Product.product_id == "K1").values(sold_units=0))
        s.execute(update(Product).where(Product.product_id == "K2").values(sold_units=7))  # orders since: kept
        s.execute(delete(ProductAttribute).where(ProductAttribute.product_id == "K1"))
        s.execute(
            delete(ProductAttribute).where(ProductAttribute.product_id == "K2", ProductAttribute.name == "colour")
        )
    added = seed.seed(shop, ws)
    assert added["product_attributes"] == 5 and added["products"] == 0
    with Session(shop) as s:
        k1, k2 = s.get(Product, "K1"), s.get(Product, "K2")
        assert k1 is not None and (k1.brand, k1.tier, k1.rating_count, k1.rating_sum, k1.sold_units) == (
            "Acme",
            "good",
            2,
            9,
            3,
        )
        assert k2 is not None and (k2.tier, k2.rating_count, k2.sold_units) == ("better", 0, 7)
        colour = s.get(ProductAttribute, ("K2", "colour"))
        assert colour is not None and colour.value == "black"


# --- one product ------------------------------------------------------------------------------------------------


def test_product_page_without_models_answers_the_database_parts(client: TestClient, shop: Engine) -> None:
    body = get(client, shop, "/v1/products/K1?store_id=S1")
    assert (body["name"], body["category"], body["brand"], body["tier"]) == (
        "Acme kettle Basic",
        "kitchen",
        "Acme",
        "good",
    )
    assert body["price"] == 20.0 and body["description"] == "about K1" and body["sold_units"] == 3
    assert [(x["name"], x["value"]) for x in body["specifications"]] == CATALOGUE["K1"][5]
    stock = body["availability"]
    assert stock["online"] == 5 and stock["store_id"] == "S1" and stock["at_store"] == 2
    assert {(x["store_id"], x["kind"], x["available"]) for x in stock["stores"]} == {
        ("WEB", "online", 5),
        ("S1", "store", 2),
    }
    assert body["rating"] == {"count": 2, "average": 4.5}
    assert body["sentiment"] is None and body["complements"] == [] and body["upgrades"] == []
    assert body["model_version"] is None
    assert any(n.startswith("suggestions: no models in this process") for n in body["notes"]), body["notes"]
    assert any(n.startswith("sentiment: nothing scored yet for K1") for n in body["notes"]), body["notes"]


def test_product_page_sentiment_from_scored_feedback(client: TestClient, shop: Engine) -> None:
    scorer = StubScorer()
    for text in ("bad lid", "lovely", "works well", "bad handle"):
        feedback.create(shop, FeedbackIn(customer_id="C1", text=text, product_id="K2", rating=3), scorer)
    body = get(client, shop, "/v1/products/K2")
    assert body["sentiment"] == {"source": "feedback", "count": 4, "mean_score": 0.5, "negative_share": 0.5}
    assert body["rating"] == {"count": 5, "average": 2.8}  # one review of 2 and four rated 3
    assert "sentiment: scored feedback" in body["notes"]


def test_product_page_with_models_suggests_in_stock_and_reads_review_sentiment(
    client: TestClient, shop: Engine
) -> None:
    recommender = with_models(client)
    body = get(client, shop, "/v1/products/K1?store_id=S1")
    assert [(x["product_id"], x["reason"]) for x in body["complements"]] == [("T1", "cross_sell #1")]  # F1 not at S1
    assert [x["product_id"] for x in body["upgrades"]] == ["K3"]
    assert body["model_version"] == "11" and {c["cart"][0] for c in recommender.calls} == {"K1"}
    assert body["sentiment"] == {"source": "reviews", "count": 8, "mean_score": 0.8, "negative_share": 0.125}
    assert not any(n.startswith("suggestions:") for n in body["notes"]), body["notes"]


def test_product_page_errors_and_roles(client: TestClient, shop: Engine) -> None:
    assert get(client, shop, "/v1/products/NOPE", 404)["detail"] == "product_id: unknown product 'NOPE'"
    assert get(client, shop, "/v1/products/K1?store_id=S9", 422)["detail"] == "store_id: unknown store 'S9'"
    assert client.get("/v1/products/K1").status_code == 401
    for role in EVERY_ROLE:
        assert get(client, shop, "/v1/products/K1", role=role)["product_id"] == "K1"


# --- compare ----------------------------------------------------------------------------------------------------


def test_compare_aligns_every_specification_and_marks_differences(client: TestClient, shop: Engine) -> None:
    body = get(client, shop, "/v1/products/compare?ids=K1,%20K2,K3&store_id=S1")
    rows = {r["name"]: (r["values"], r["differs"]) for r in body["specifications"]}
    assert [r["name"] for r in body["specifications"]] == ["type", "colour", "material", "warranty", "capacity"]
    assert rows["type"] == (["kettle", "kettle", "kettle"], False)
    assert rows["colour"] == (["black", "black", None], True)
    assert rows["capacity"] == ([None, None, "1.7 l"], True)
    assert rows["warranty"] == (["1 year", "2 years", "5 years"], True)
    products = body["products"]
    assert [p["product_id"] for p in products] == ["K1", "K2", "K3"]
    assert [p["price_difference"] for p in products] == [0.0, 12.0, 32.0]
    assert [p["available_online"] for p in products] == [5, 4, 0]
    assert [p["available_at_store"] for p in products] == [2, 0, 1]
    assert [p["rating"]["average"] for p in products] == [4.5, 2.0, None]


def test_compare_reads_review_sentiment_when_the_models_are_in(client: TestClient, shop: Engine) -> None:
    with_models(client)
    body = get(client, shop, "/v1/products/compare?ids=K2,K1")
    assert [p["sentiment"] and p["sentiment"]["source"] for p in body["products"]] == [None, "reviews"]
    assert body["products"][1]["price_difference"] == -12.0
    assert "sentiment: nothing scored yet for K2" in body["notes"]


@pytest.mark.parametrize("ids", ["K1", "K1,K1", "K1,K2,K3,K4,F1,T1", "K1,,K2", "K1,K2,"])
def test_compare_refuses_other_than_two_to_five_distinct_ids(client: TestClient, shop: Engine, ids: str) -> None:
    detail = get(client, shop, f"/v1/products/compare?ids={ids}", 422)["detail"]
    assert detail.startswith("ids: expected 2 to 5 distinct product ids") and repr(ids) in detail


def test_compare_names_an_unknown_product_and_store(client: TestClient, shop: Engine) -> None:
    assert get(client, shop, "/v1/products/compare?ids=K1,ZZ", 404)["detail"] == "ids: unknown product 'ZZ'"
    assert (
        get(client, shop, "/v1/products/compare?ids=K1,K2&store_id=S9", 422)["detail"] == "store_id: unknown store 'S9'"
    )
    assert client.get("/v1/products/compare", headers=key(shop, "app")).status_code == 422  # ids is required


# --- upgrades ---------------------------------------------------------------------------------------------------


def test_upgrades_by_tier_then_price_with_what_each_adds(client: TestClient, shop: Engine) -> None:
    body = get(client, shop, "/v1/products/K1/upgrades")
    assert body["ranked_by"] == "catalogue" and "no models in this process" in body["note"]
    assert [(u["product_id"], u["tier"], u["extra_cost"]) for u in body["items"]] == [
        ("K4", "better", 10.0),
        ("K2", "better", 12.0),
        ("K3", "best", 32.0),
    ]  # F1 is a frying pan: another need
    k4 = body["items"][0]
    assert [(a["name"], a["value"], a["was"]) for a in k4["adds"]] == [
        ("colour", "white", "black"),
        ("warranty", "2 years", "1 year"),
    ]
    k3 = body["items"][2]
    assert ("capacity", "1.7 l", None) in [(a["name"], a["value"], a["was"]) for a in k3["adds"]]
    assert k4["reason"] == "the better tier of kettle in kitchen" and k4["available_online"] == 3
    assert [u["product_id"] for u in get(client, shop, "/v1/products/K1/upgrades?limit=1")["items"]] == ["K4"]


def test_upgrades_in_stock_at_a_store(client: TestClient, shop: Engine) -> None:
    body = get(client, shop, "/v1/products/K1/upgrades?store_id=S1")
    assert [(u["product_id"], u["available_at_store"]) for u in body["items"]] == [("K3", 1)]
    body = get(client, shop, "/v1/products/K2/upgrades?store_id=S1")
    assert [u["product_id"] for u in body["items"]] == ["K3"]


def test_upgrades_follow_the_recommenders_ranking_within_a_tier(client: TestClient, shop: Engine) -> None:
    with_models(client)
    body = get(client, shop, "/v1/products/K1/upgrades")
    assert body["ranked_by"] == "recommender" and body["model_version"] == "11"
    assert [(u["product_id"], u["reason"]) for u in body["items"]] == [
        ("K2", "up_sell #1"),
        ("K4", "up_sell #3"),
        ("K3", "up_sell #2"),
    ]


def test_no_upgrades_for_the_best_tier_or_a_product_without_tier(client: TestClient, shop: Engine) -> None:
    best = get(client, shop, "/v1/products/K3/upgrades")
    assert best["items"] == [] and best["note"].startswith("no higher tier of kettle in kitchen")
    plain = get(client, shop, "/v1/products/T1/upgrades")
    assert plain["items"] == [] and plain["note"].startswith("the product has no tier")
    assert get(client, shop, "/v1/products/ZZ/upgrades", 404)["detail"] == "product_id: unknown product 'ZZ'"
    assert get(client, shop, "/v1/products/K1/upgrades?limit=0", 422)
