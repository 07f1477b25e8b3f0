"""The two-stage recommender: its answers' contract, and a known answer on tiny data with a planted complement."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from planted import AS_OF, INNER_CUTOFF, NEWCOMERS, STAPLE, TINY, A, B, planted_transactions
from ranking_checks import assert_valid

from training.recommend.metrics import evaluate_fitted
from training.recommend.pairs import MISSING_SHARE, build_context, candidate_frame
from training.recommend.rerank import Reranker, fit_reranker


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    return fit_reranker(planted_transactions(), INNER_CUTOFF, horizon_days=30, config=TINY, as_of=AS_OF)


@pytest.mark.parametrize("new_only", [False, True])
@pytest.mark.parametrize("k", [0, 1, 5, 50])
def test_at_most_k_unique_valid_sorted(reranker: Reranker, k: int, new_only: bool) -> None:
    x = reranker.interactions
    for customer in range(x.n_customers):
        found = reranker.recommend(customer, [], k, new_only)
        blocked = set(x.history(customer).tolist()) if new_only else set()
        assert_valid(found, k, x.n_products, blocked)
        assert (k == 0) == (found == [])


def test_all_mode_may_repeat_what_the_customer_buys(reranker: Reranker) -> None:
    x = reranker.interactions
    customer = x.customer_index["n00"]
    found = {i for i, _ in reranker.recommend(customer, [], 10)}
    assert found & set(x.history(customer).tolist())


def test_new_only_and_cart_are_excluded(reranker: Reranker) -> None:
    x = reranker.interactions
    cart = x.products_of(["p05"])
    for customer in range(x.n_customers):
        blocked = set(x.history(customer).tolist()) | set(cart)
        assert_valid(reranker.recommend(customer, cart, 5, new_only=True), 5, x.n_products, blocked)


def test_guest_with_a_cart_gets_recommendations_from_it(reranker: Reranker) -> None:
    x = reranker.interactions
    cart = x.products_of([A, STAPLE])
    found = reranker.recommend(None, cart, 3, new_only=True)
    assert_valid(found, 3, x.n_products, set(cart))
    assert x.product_ids[found[0][0]] == B
    assert len(reranker.recommend(None, [], 3)) == 3  # no customer, no cart: popular products


def test_deterministic_across_two_fits(reranker: Reranker) -> None:
    again = fit_reranker(planted_transactions(), INNER_CUTOFF, horizon_days=30, config=TINY, as_of=AS_OF)
    cart = reranker.interactions.products_of([A])
    for customer in [None, 0, 7, reranker.interactions.customer_index["t00"]]:
        for new_only in (False, True):
            one = reranker.recommend(customer, cart, 5, new_only)
            two = again.recommend(customer, cart, 5, new_only)
            assert one == two


def test_planted_complement_is_in_the_top_3_for_a_buyers(reranker: Reranker) -> None:
    x = reranker.interactions
    for customer in NEWCOMERS:
        found = reranker.recommend(x.customer_index[customer], [], 3, new_only=True)
        assert B in [x.product_ids[i] for i, _ in found], customer


def test_batch_matches_one_by_one(reranker: Reranker) -> None:
    customers: list[int | None] = [0, 3, None, 10]
    carts = [[], [1], [0], []]
    batch = reranker.recommend_many(customers, carts, 4, new_only=True)
    assert batch == [reranker.recommend(c, cart, 4, new_only=True) for c, cart in zip(customers, carts, strict=True)]


def test_usable_as_a_candidate_source_in_evaluation(reranker: Reranker) -> None:
    test = planted_transactions()
    test = test[test["customer_id"].isin(NEWCOMERS)].assign(product_id=B, ts=AS_OF + pd.Timedelta(days=3))
    source = reranker.as_source(new_only=True).fit(reranker.interactions)
    figures = evaluate_fitted(source, reranker.interactions, test, k=3, new_only=True)
    assert figures["recall_at_3"] == 1.0
    assert figures["customers"] == len(NEWCOMERS)


def test_no_labels_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="label windows"):
        config = replace(TINY, earlier_cutoffs_days=())
        fit_reranker(planted_transactions(), AS_OF, horizon_days=30, config=config, as_of=AS_OF)


def test_dense_scores_equal_each_sources_own_candidates() -> None:
    """The matrix-at-a-time scores the ranker reads are exactly what each source proposes, carts included."""
    from training.recommend.dataset import build_interactions
    from training.recommend.pairs.frame import dense_scores

    x = build_interactions(planted_transactions())
    customers = np.array([0, 5, 0, 9, 12])
    known = np.array([True, True, False, False, True])
    carts = [[], [3, 7], [1], [], [2]]
    for name, source in TINY.sources().items():
        if name == "popular":  # popularity is the same for every row by design; its ranks skip the cart
            continue
        source.fit(x)
        dense = dense_scores(source, customers, known, carts, x.n_products)
        expected = np.zeros_like(dense)
        for row, (customer, cart) in enumerate(zip(customers, carts, strict=True)):
            for item, score in source.candidates(int(customer) if known[row] else None, cart, x.n_products):
                expected[row, item] = score
        assert np.allclose(dense, expected, atol=1e-6), name


def test_ages_are_shares_of_the_history_at_every_cutoff() -> None:
    """Ages are censored by the data's start: as shares of the history they keep one scale at any cutoff."""
    tx = planted_transactions()
    for cutoff in (INNER_CUTOFF, AS_OF):
        ctx = build_context(tx, TINY.sources(), TINY.proposals, cutoff)
        names = ctx.feature_names
        customers = list(range(ctx.interactions.n_customers))
        _, items, features = candidate_frame(ctx, customers, [[] for _ in customers], new_only=False)
        tenure = features[:, names.index("customer_tenure_share")]
        age = features[:, names.index("item_age_share")]
        first = features[:, names.index("first_bought_share")]
        bought = features[:, names.index("times_bought")] > 0
        assert 0 < tenure.min() and tenure.max() <= 1 and np.isclose(tenure.max(), 1.0, atol=0.02)
        assert 0 <= age.min() and age.max() <= 1
        assert (first[bought] <= 1).all() and (first[~bought] == MISSING_SHARE).all()
        assert np.isclose(ctx.history_days, (cutoff - tx["ts"].min()) / pd.Timedelta(days=1))
        assert len(items) == len(features)


def test_ranks_are_those_of_a_stable_sort_ties_to_the_lower_index() -> None:
    """The fast rank computation equals the plain stable argsort it replaces, ties and blocked products included."""
    from training.recommend.pairs.frame import MISSING_RANK, source_ranks

    def stable(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
        usable = (scores != 0) & ~blocked
        order = np.argsort(-np.where(usable, scores, -np.inf), axis=1, kind="stable")
        ranks = np.empty_like(scores)
        np.put_along_axis(ranks, order, np.broadcast_to(np.arange(scores.shape[1], dtype=np.float64), scores.shape), 1)
        return np.where(usable, ranks, MISSING_RANK)

    rng = np.random.default_rng(0)
    for trial in range(100):
        shape = (int(rng.integers(1, 30)), int(rng.integers(1, 200)))
        scores = rng.integers(-3, 4, size=shape) * rng.choice([1.0, 0.5], size=shape)  # many ties and zeros
        if trial % 2:
            scores = scores + rng.normal(size=shape) * (rng.random(shape) < 0.3)
        blocked = rng.random(shape) < 0.2
        assert np.array_equal(source_ranks(scores, blocked), stable(scores, blocked)), trial


@pytest.mark.parametrize("new_only", [False, True])
def test_a_request_gets_the_batch_features(reranker: Reranker, new_only: bool) -> None:
    """`request_frame` (one request) builds the candidates and features `candidate_frame` builds for that row:
    exactly, but for the factor models' scores, summed on one BLAS thread (last-bit differences)."""
    from training.recommend.pairs import request_frame

    ctx = reranker.context
    x = ctx.interactions
    names = ctx.feature_names
    factor = [names.index(f"{s}_score") for s in ("als", "bpr")]
    exact = [i for i in range(len(names)) if i not in factor]
    rng = np.random.default_rng(1)
    cases: list[tuple[int | None, list[int]]] = [(None, []), (None, [0, 3]), (0, [int(x.history(0)[0])])]
    for customer in range(x.n_customers):
        cart = sorted(rng.choice(x.n_products, size=int(rng.integers(0, 4)), replace=False).tolist())
        cases.append((customer, cart))
    for customer, cart in cases:
        rows, items, features = candidate_frame(ctx, [customer], [cart], new_only)
        got_rows, got_items, got = request_frame(ctx, customer, cart, new_only)
        assert np.array_equal(got_rows, rows) and np.array_equal(got_items, items), (customer, cart)
        assert np.array_equal(got[:, exact], features[:, exact], equal_nan=True), (customer, cart)
        assert np.allclose(got[:, factor], features[:, factor], rtol=1e-5, atol=1e-6), (customer, cart)


def test_a_requests_proposals_and_ranks_are_the_batch_ones() -> None:
    """Partition-and-count ranks of one row equal `source_ranks`' stable sort, ties and blocked products included."""
    from training.recommend.pairs.frame import source_ranks
    from training.recommend.pairs.request import best_below, ranks_at, sort_keys

    rng = np.random.default_rng(2)
    for trial in range(200):
        n = int(rng.integers(1, 300))
        scores = rng.integers(-3, 4, size=n) * rng.choice([1.0, 0.5], size=n)  # many ties and zeros
        if trial % 2:
            scores = scores + rng.normal(size=n) * (rng.random(n) < 0.3)
        blocked = rng.random(n) < 0.2
        ranks = source_ranks(scores[None, :], blocked[None, :])[0]
        keyed = sort_keys(scores, blocked)
        items = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
        assert np.array_equal(ranks_at(keyed, items), ranks[items]), trial
        for limit in (1, 3, 10, 50):
            assert np.array_equal(best_below(keyed, limit), ranks < limit), (trial, limit)
