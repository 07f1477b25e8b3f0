"""Catalogue search (`GET /v1/products`): words, prefixes, typos, filters, sorts and cursor pages on both databases,
and the ratings and units sold it sorts by, kept up to date by feedback and paid orders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from shopdata import customers_and_stores, key, order_in
from sqlalchemy import Engine, create_engine, delete, update
from sqlalchemy.orm import Session

from retail import db
from retail.db import connect
from serving import auth
from serving.commerce import catalog, catalog_text, feedback, orders
from serving.commerce.catalog_api import CATALOGUE_ROLES
from serving.commerce.errors import Invalid
from serving.commerce.feedback import FeedbackIn
from serving.commerce.tables import Inventory, Product

T0 = datetime(2026, 1, 1)
# id: name, category, brand, tier, price cents, units sold, (rating count, rating sum), description
CATALOGUE: dict[str, tuple[str, str, str, str, int, int, tuple[int, int], str]] = {
    "P01": ("Acme kettle Basic", "kitchen", "Acme", "good", 1500, 40, (2, 8), "Boils a litre quickly."),
    "P02": ("Acme kettle Premium", "kitchen", "Acme", "best", 3900, 12, (4, 18), "Brushed steel, keeps water hot."),
    "P03": ("Northwind kettle Select", "kitchen", "Northwind", "better", 2400, 40, (2, 8), "A quiet boil."),
    "P04": ("Northwind desk lamp", "home", "Northwind", "better", 2900, 7, (0, 0), "Warm light for reading."),
    "P05": ("Globex floor lamp", "home", "Globex", "best", 8900, 3, (1, 5), "Tall and bright."),
    "P06": ("Globex garden gloves", "garden", "Globex", "good", 900, 55, (3, 12), "Tough gloves for roses."),
    "P07": ("Verdant watering can", "garden", "Verdant", "good", 1500, 20, (0, 0), "Ten litres; pairs with a kettle."),
    "P08": ("Verdant plant pot", "garden", "Verdant", "better", 1500, 20, (5, 20), "Terracotta pot."),
    "P09": ("Solace headphones", "electronics", "Solace", "best", 12900, 9, (2, 10), "Noise cancelling."),
    "P10": ("Solace charger", "electronics", "Solace", "good", 1900, 70, (1, 1), "Fast charging for phones."),
}
STOCK = {("WEB", "P01"): (3, 1), ("WEB", "P04"): (2, 2), ("WEB", "P06"): (5, 0), ("S1", "P01"): (1, 0),
         ("S1", "P09"): (4, 1), ("S2", "P02"): (6, 0)}  # fmt: skip
SORTS = ("relevance", "price", "-price", "popularity", "rating")


def fill(engine: Engine) -> Engine:
    with Session(engine) as s, s.begin():
        customers_and_stores(s)
        for pid, (name, category, brand, tier, cents, sold, (count, total), text) in CATALOGUE.items():
            s.add(
                Product(
                    product_id=pid,
                    name=name,
                    category=category,
                    brand=brand,
                    tier=tier,
                    price_cents=cents,
                    sold_units=sold,
                    rating_count=count,
                    rating_sum=total,
                    description=text,
                )
            )
        s.flush()
        s.add_all(
            Inventory(store_id=st, product_id=p, on_hand=h, reserved=r, updated_at=T0)
            for (st, p), (h, r) in STOCK.items()
        )
    return engine


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield fill(connect(db_url))
    auth.forget()


def ids(engine: Engine, q: str | None = None, **kwargs: Any) -> list[str]:
    return [i.product_id for i in catalog.search(engine, q, **kwargs).items]


def test_finds_by_name_word_prefix_brand_category_and_description(shop: Engine) -> None:
    assert set(ids(shop, "kettle")) == {"P01", "P02", "P03", "P07"}  # P07 only by its description
    assert ids(shop, "kettle")[-1] == "P07"  # a name match ranks above a description match
    assert set(ids(shop, "lam")) == {"P04", "P05"}  # the last word is a prefix while it is typed
    assert set(ids(shop, "KETT")) == {"P01", "P02", "P03", "P07"}
    assert set(ids(shop, "northwind")) == {"P03", "P04"}
    assert set(ids(shop, "garden")) == {"P06", "P07", "P08"}
    assert ids(shop, "terracotta") == ["P08"]
    assert set(ids(shop, "acme kettle")) == {"P01", "P02"}  # every word must match
    assert ids(shop, "kettles") and ids(shop, "lamps")  # stemmed
    assert ids(shop, "zebra") == [] and not catalog.search(shop, "zebra").fuzzy  # nothing near: nothing, no guess


def test_a_typo_falls_back_to_similar_products_and_says_so(shop: Engine) -> None:
    page = catalog.search(shop, "ketle")
    assert page.fuzzy and page.items[0].name.split()[1] == "kettle"
    assert catalog.search(shop, "headphnes").items[0].product_id == "P09"
    assert not catalog.search(shop, "kettle").fuzzy


@pytest.mark.parametrize(
    ("word", "term", "edits"),
    [("kettel", "kettle", 1), ("ketle", "kettle", 1), ("craem", "cream", 1), ("zebra", "zenar", 2), ("abc", "abc", 0)],
)
def test_edits_count_swaps_as_one(word: str, term: str, edits: float) -> None:
    assert catalog_text.distance(word, term) == edits


def test_an_indexed_stem_is_near_the_word_it_came_from() -> None:
    assert catalog_text.distance("headphnes", "headphon") == 1.5  # "headphn" + an ending the stem lacks
    assert catalog_text.distance("glovess", "glove") == 0.5
    assert catalog_text.distance("kettlexyz", "kettl") > 2  # a stem three letters short is not near


def test_a_misspelt_word_is_respelt_and_a_matching_one_kept(shop: Engine) -> None:
    with Session(shop) as s:
        acme, kettle = catalog_text.fuzzy_terms(s, shop, ["acme", "ketle"]) or ["", ""]
        assert acme == "acme" and kettle.startswith("kettl") and kettle.endswith("*")  # a stem on SQLite
        assert catalog_text.fuzzy_terms(s, shop, ["globx", "lamp"]) == ["globex*", "lamp"]
        assert catalog_text.fuzzy_terms(s, shop, ["zebra"]) is None  # nothing near: no guess
    page = catalog.search(shop, "globx lamp")
    assert [i.product_id for i in page.items] == ["P05"] and page.fuzzy


def test_a_wrong_first_letter_needs_pg_trgm(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    page = catalog.search(shop, "jettle")  # the same first letter is where SQLite (and PostgreSQL alone) look
    assert (ids(shop, "jettle")[:1] == ["P01"] and page.fuzzy) if shop.dialect.name == "postgresql" else not page.items
    monkeypatch.setattr(catalog_text, "trigram_available", lambda engine: False)
    assert ids(shop, "jettle") == [] and ids(shop, "ketle")  # without pg_trgm: edits only, and no error


def test_products_added_renamed_or_removed_are_searched_as_they_are_now(shop: Engine) -> None:
    with Session(shop) as s, s.begin():
        s.add(Product(product_id="P11", name="Umbra umbrella", category="apparel", price_cents=999))
        s.execute(update(Product).where(Product.product_id == "P05").values(name="Globex torch"))
        s.execute(delete(Inventory).where(Inventory.product_id == "P06"))
        s.execute(delete(Product).where(Product.product_id == "P06"))
        s.execute(update(Product).where(Product.product_id == "P01").values(sold_units=99))  # not a searched column
    assert ids(shop, "umbrella") == ["P11"]
    assert ids(shop, "lamp") == ["P04"] and ids(shop, "torch") == ["P05"]
    assert "P06" not in ids(shop, "gloves") and "P06" not in ids(shop, "garden")
    assert ids(shop, "acme kettle basic") == ["P01"]


def test_an_existing_catalogue_is_indexed_when_the_database_migrates_up(db_url: str) -> None:
    engine = create_engine(db_url)
    db.upgrade(engine, "0011")
    with Session(engine) as s, s.begin():
        s.add(Product(product_id="P1", name="Hearth frying pan", category="kitchen", price_cents=2500))
    db.upgrade(engine)
    assert ids(engine, "frying") == ["P1"] and ids(engine, "kitch") == ["P1"]
    engine.dispose()


def test_filters(shop: Engine) -> None:
    assert set(ids(shop, category="KITCHEN")) == {"P01", "P02", "P03"}
    assert set(ids(shop, "kettle", tier="best")) == {"P02"}
    assert set(ids(shop, min_price=15, max_price=24)) == {"P01", "P03", "P07", "P08", "P10"}
    assert set(ids(shop, max_price=9.0)) == {"P06"}
    page = catalog.search(shop, in_stock="online")
    assert {i.product_id: i.available for i in page.items} == {"P01": 2, "P06": 5}  # P04: all reserved
    assert {i.product_id: i.available for i in catalog.search(shop, in_stock="S1").items} == {"P01": 1, "P09": 3}
    assert catalog.search(shop, "kettle").items[0].available is None
    assert ids(shop, "kettle", in_stock="S2") == ["P02"]


def test_sorts(shop: Engine) -> None:
    prices = [i.price for i in catalog.search(shop, sort="price").items]
    assert prices == sorted(prices) and prices[0] == 9.0
    assert [i.price for i in catalog.search(shop, sort="-price").items] == sorted(prices, reverse=True)
    assert ids(shop)[:3] == ["P10", "P06", "P01"]  # popularity without q: units sold, ties by id (P01 < P03)
    # rating: average, then more ratings, then id; unrated last
    assert ids(shop, sort="rating") == ["P09", "P05", "P02", "P08", "P06", "P01", "P03", "P10", "P04", "P07"]
    rated = catalog.search(shop, sort="rating").items
    assert [i.rating_average for i in rated[:3]] == [5.0, 5.0, 4.5] and rated[-1].rating_average is None
    assert ids(shop, sort="price")[:4] == ["P06", "P01", "P07", "P08"]
    assert ids(shop, "kettle", sort="price") == ["P01", "P07", "P03", "P02"]
    assert ids(shop, "kettle", sort="popularity")[:2] == ["P01", "P03"]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("q", [None, "kettle", "ketle"])
def test_cursor_pages_walk_every_result_once(shop: Engine, sort: str, q: str | None) -> None:
    whole = ids(shop, q, sort=sort, limit=100)
    walked: list[str] = []
    cursor = None
    for _ in range(len(whole) + 1):
        page = catalog.search(shop, q, sort=sort, cursor=cursor, limit=3)
        walked += [i.product_id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == whole and len(set(walked)) == len(walked) and whole


def test_a_broad_query_comes_in_order_of_units_sold(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    scored = ids(shop, "kettle")
    monkeypatch.setattr(catalog_text, "BROAD", 2)  # four kettles: more than two match
    assert ids(shop, "kettle") == ["P01", "P03", "P07", "P02"] != scored  # units sold, then id
    walked, cursor = [], None
    for _ in range(3):
        page = catalog.search(shop, "kettle", cursor=cursor, limit=3)
        walked += [i.product_id for i in page.items]
        if (cursor := page.next_cursor) is None:
            break
    assert walked == ["P01", "P03", "P07", "P02"]


def test_a_cursor_belongs_to_its_search(shop: Engine) -> None:
    cursor = catalog.search(shop, sort="price", limit=2).next_cursor
    assert cursor is not None
    for kwargs in ({"sort": "rating"}, {"sort": "price", "category": "home"}, {"sort": "price", "q": "kettle"}):
        with pytest.raises(Invalid) as caught:
            catalog.search(shop, cursor=cursor, **kwargs)
        assert caught.value.field == "cursor"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"q": "x" * 201}, "q"),
        ({"sort": "cheapest"}, "sort"),
        ({"tier": "gold"}, "tier"),
        ({"min_price": -1}, "min_price"),
        ({"min_price": 20, "max_price": 10}, "max_price"),
        ({"in_stock": "S9"}, "in_stock"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "eyJzIjoicHJpY2UiLCJmIjpmYWxzZSwiaCI6IngiLCJrIjpbMSwiUDEiXX0"}, "cursor"),
    ],
)
def test_bad_parameters_answer_422_naming_the_field(client: TestClient, shop: Engine, params: dict, field: str) -> None:
    answer = client.get("/v1/products", params=params, headers=key(shop, "sales_rep"))
    assert answer.status_code == 422, answer.text
    assert field in str(answer.json()["detail"])


@pytest.mark.parametrize("role", CATALOGUE_ROLES)
def test_every_role_may_search(client: TestClient, shop: Engine, role: str) -> None:
    binding = {"customer": {"customer_id": "C1"}, "store": {"store_id": "S1"}}.get(role, {})
    answer = client.get("/v1/products", params={"q": "kett", "limit": 2}, headers=key(shop, role, **binding))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [i["product_id"] for i in body["items"]] == ids(shop, "kett", limit=2) and body["next_cursor"]
    assert set(body["items"][0]) >= {"product_id", "name", "brand", "category", "tier", "price", "rating_average"}
    assert client.get("/v1/products").status_code == 401


def test_the_route_pages_with_its_cursor(client: TestClient, shop: Engine) -> None:
    headers = key(shop, "app")
    first = client.get("/v1/products", params={"sort": "-price", "limit": 4}, headers=headers).json()
    second = client.get(
        "/v1/products", params={"sort": "-price", "limit": 4, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    walked = [i["product_id"] for i in first["items"] + second["items"]]
    assert walked == ids(shop, sort="-price", limit=8)
    assert (
        first["items"][0]
        == {
            "product_id": "P09",
            "name": "Solace headphones",
            "brand": "Solace",
            "category": "electronics",
            "tier": "best",
            "price": 129.0,
            "rating_average": 5.0,
            "rating_count": 2,
            "popularity": 9,
            "available": None,
        }
        and first["fuzzy"] is False
    )


def _product(engine: Engine, product_id: str) -> tuple[int, int, int]:
    with Session(engine) as s:
        p = s.get(Product, product_id)
        assert p is not None
        return p.rating_count, p.rating_sum, p.sold_units


def test_rated_feedback_adds_to_the_products_rating(shop: Engine) -> None:
    before = _product(shop, "P04")
    feedback.create(shop, FeedbackIn(customer_id="C1", product_id="P04", rating=3, text="fine"))
    feedback.create(shop, FeedbackIn(customer_id="C1", product_id="P04", text="no stars"))
    feedback.create(shop, FeedbackIn(customer_id="C1", rating=5, text="no product"))
    assert _product(shop, "P04") == (before[0] + 1, before[1] + 3, before[2])
    assert catalog.search(shop, "desk lamp").items[0].rating_average == 3.0


def test_paid_orders_add_units_sold_and_cancelling_them_takes_them_back(shop: Engine) -> None:
    sold = _product(shop, "P01")[2]
    order, _ = orders.place_order(shop, "k1", order_in(customer_id="C1", store_id="WEB", lines=[("P01", 2)]))
    assert _product(shop, "P01")[2] == sold  # placed, not paid
    orders.set_status(shop, order.order_id, "paid")
    assert _product(shop, "P01")[2] == sold + 2
    assert catalog.search(shop, "acme kettle basic").items[0].popularity == sold + 2
    orders.set_status(shop, order.order_id, "cancelled")
    assert _product(shop, "P01")[2] == sold
    unpaid, _ = orders.place_order(shop, "k2", order_in(customer_id="C1", store_id="WEB", lines=[("P06", 1)]))
    orders.set_status(shop, unpaid.order_id, "cancelled")  # never paid: nothing to take back
    assert _product(shop, "P06")[2] == CATALOGUE["P06"][5]
