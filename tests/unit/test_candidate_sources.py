"""Every candidate source honours one contract; known answers on a tiny data set with planted patterns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from ranking_checks import assert_valid

from training.recommend.candidates import (
    CandidateSource,
    CoPurchase,
    Fallback,
    ImplicitALS,
    ImplicitBPR,
    Popularity,
    Repeat,
)
from training.recommend.dataset import Interactions, build_interactions
from training.recommend.metrics import evaluate_source, ndcg_at_k, recall_at_k

A, B, STAPLE = "p00", "p01", "p02"  # B complements A; the staple is in nearly every order
HABIT, ONCE, REGULAR = "p05", "p06", "c30"  # the regular buys the habit in three orders, ONCE in one

SOURCES: dict[str, Callable[[], CandidateSource]] = {
    "popularity": Popularity,
    "recent_popularity": lambda: Popularity(half_life_days=30),
    "repeat": Repeat,
    "co_purchase_order": CoPurchase,
    "co_purchase_customer": lambda: CoPurchase(by="customer", max_neighbours=3),
    "als": lambda: ImplicitALS(factors=8, iterations=5),
    "bpr": lambda: ImplicitBPR(factors=8, iterations=20),
    "repeat_then_popular": lambda: Fallback(Repeat(), Popularity()),
}
CART_BLIND = {"repeat"}  # a guest's cart holds nothing the customer's own history could repeat


def planted_transactions(seed: int = 0) -> pd.DataFrame:
    """31 customers over 12 products: A-buyers (c00-c09) buy B later, often with A again; others buy noise."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    rows: list[tuple[str, str, str, pd.Timestamp]] = []

    def order(customer: str, day: int, products: list[str]) -> None:
        order_id = f"o{len({r[0] for r in rows}):04d}"
        rows.extend((order_id, customer, p, start + pd.Timedelta(days=day)) for p in products)

    noise = [f"p{i:02d}" for i in range(3, 12)]
    for c in range(10):
        order(f"c{c:02d}", c, [A, STAPLE])
        order(f"c{c:02d}", c + 20, [B, A] if c % 2 else [B, STAPLE])
    for c in range(10, 30):
        for day in (c, c + 15):
            order(f"c{c:02d}", day, [STAPLE, *rng.choice(noise, size=2, replace=False).tolist()])
    order(REGULAR, 40, [HABIT])
    order(REGULAR, 45, [HABIT, ONCE])
    order(REGULAR, 50, [HABIT])
    tx = pd.DataFrame(rows, columns=["order_id", "customer_id", "product_id", "ts"])
    tx["quantity"] = 1
    tx["unit_price"] = 2.5
    return tx


@pytest.fixture(scope="module")
def interactions() -> Interactions:
    return build_interactions(planted_transactions())


@pytest.fixture(scope="module", params=sorted(SOURCES))
def fitted(request: pytest.FixtureRequest, interactions: Interactions) -> tuple[str, CandidateSource]:
    return request.param, SOURCES[request.param]().fit(interactions)


class TestCandidateSourceContract:
    """The contract every source passes (in the spirit of implicit's RecommenderBase test mixin)."""

    def test_is_a_candidate_source(self, fitted: tuple[str, CandidateSource]) -> None:
        assert isinstance(fitted[1], CandidateSource)

    @pytest.mark.parametrize("k", [0, 1, 3, 50])
    def test_at_most_k_sorted_unique_valid(
        self, fitted: tuple[str, CandidateSource], interactions: Interactions, k: int
    ) -> None:
        _, source = fitted
        for customer in range(interactions.n_customers):
            found = source.candidates(customer, [], k)
            assert_valid(found, k, interactions.n_products, set())
            assert k > 0 or found == []

    def test_never_returns_excluded_or_cart(
        self, fitted: tuple[str, CandidateSource], interactions: Interactions
    ) -> None:
        _, source = fitted
        cart = interactions.products_of([A])
        for customer in range(interactions.n_customers):
            exclude = set(interactions.history(customer).tolist())
            found = source.candidates(customer, cart, 5, exclude)
            assert_valid(found, 5, interactions.n_products, exclude | set(cart))

    def test_guest_with_cart(self, fitted: tuple[str, CandidateSource], interactions: Interactions) -> None:
        name, source = fitted
        cart = interactions.products_of([A, STAPLE])
        found = source.candidates(None, cart, 5)
        assert_valid(found, 5, interactions.n_products, set(cart))
        assert (found == []) == (name in CART_BLIND)

    def test_deterministic_across_two_fits(
        self, fitted: tuple[str, CandidateSource], interactions: Interactions
    ) -> None:
        name, _ = fitted
        first, second = SOURCES[name]().fit(interactions), SOURCES[name]().fit(interactions)
        cart = interactions.products_of([A])
        for customer in [None, 0, 15, interactions.customer_index[REGULAR]]:
            one, two = first.candidates(customer, cart, 5), second.candidates(customer, cart, 5)
            assert [i for i, _ in one] == [i for i, _ in two]
            assert [s for _, s in one] == pytest.approx([s for _, s in two])


@pytest.mark.parametrize("by", ["order", "customer"])
def test_co_purchase_ranks_the_planted_complement_first(
    interactions: Interactions, by: Literal["order", "customer"]
) -> None:
    source = CoPurchase(by=by).fit(interactions)
    found = source.candidates(None, interactions.products_of([A]), 3)
    assert interactions.product_ids[found[0][0]] == B


def test_repeat_returns_the_customers_most_bought_first(interactions: Interactions) -> None:
    found = Repeat().fit(interactions).candidates(interactions.customer_index[REGULAR], [], 5)
    assert [interactions.product_ids[i] for i, _ in found] == [HABIT, ONCE]
    assert [s for _, s in found] == [3.0, 1.0]


def test_popularity_returns_the_most_bought_first(interactions: Interactions) -> None:
    found = Popularity().fit(interactions).candidates(None, [], 3)
    assert interactions.product_ids[found[0][0]] == STAPLE


def test_interactions_count_orders_with_stable_maps(interactions: Interactions) -> None:
    again = build_interactions(planted_transactions().sample(frac=1.0, random_state=1))
    assert again.customer_ids == interactions.customer_ids
    assert again.product_ids == interactions.product_ids
    assert interactions.matrix.dtype == np.float32
    regular = interactions.customer_index[REGULAR]
    assert interactions.matrix[regular, interactions.product_index[HABIT]] == 3.0


def test_interactions_drop_returns_and_guests() -> None:
    tx = planted_transactions()
    extra = pd.DataFrame(
        {
            "order_id": ["r1", "g1"],
            "customer_id": ["c00", None],
            "product_id": ["p99", "p98"],
            "ts": pd.Timestamp("2024-03-01"),
            "quantity": [-1, 2],
            "unit_price": 1.0,
        }
    )
    built = build_interactions(pd.concat([tx, extra], ignore_index=True))
    assert "p99" not in built.product_index and "p98" not in built.product_index


def test_metrics_known_answers() -> None:
    assert recall_at_k(["a", "x", "b"], {"a", "b"}, 3) == 1.0
    assert recall_at_k(["x", "a"], {"a", "b", "c"}, 2) == 0.5
    assert ndcg_at_k(["a", "b"], {"a", "b"}, 2) == pytest.approx(1.0)
    assert ndcg_at_k(["x", "a"], {"a"}, 2) == pytest.approx(1 / np.log2(3))


def test_evaluate_source_new_only_excludes_bought(interactions: Interactions) -> None:
    tx = planted_transactions()
    test = pd.DataFrame(
        {
            "order_id": ["t1", "t1", "t2"],
            "customer_id": [REGULAR, REGULAR, "c00"],
            "product_id": [HABIT, "p07", STAPLE],
            "ts": pd.Timestamp("2024-06-01"),
            "quantity": 1,
            "unit_price": 1.0,
        }
    )
    everything = evaluate_source(Repeat(), tx, test, k=1)
    assert everything["recall_at_1"] == 1.0 and everything["customers"] == 2
    new = evaluate_source(Fallback(Repeat(), Popularity()), tx, test, k=10, new_only=True)
    assert new["customers"] == 1  # c00 had bought the staple already; the regular never bought p07


def test_als_cart_fold_in_equals_implicits_recalculate_user() -> None:
    """Our cached-YtY solve gives implicit's own exact user recalculation."""
    import scipy.sparse as sp
    from threadpoolctl import threadpool_limits

    from features.simulate import simulate
    from training.recommend.candidates import ImplicitALS
    from training.recommend.dataset import build_interactions

    x = build_interactions(simulate(n_customers=300, days=120, seed=2)["transactions"])
    als = ImplicitALS(factors=8, iterations=3, alpha=2.0).fit(x)
    for customer, cart in [(None, [1, 5]), (3, [7]), (10, [2, 3, 4])]:
        items = np.unique(cart)
        row = sp.csr_matrix((als.item_weight[items], (np.zeros(len(items)), items)), shape=(1, x.n_products))
        if customer is not None:
            row = row + als.weights[customer]
        with threadpool_limits(limits=1, user_api="blas"):
            expected = np.asarray(als.model.recalculate_user(0, sp.csr_matrix(row, dtype=np.float32))).ravel()
        assert np.allclose(als.user_vector(customer, cart), expected, atol=1e-5)
