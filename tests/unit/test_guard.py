"""Never below its own baselines: the inner validation's per-mode decision, and how it answers requests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from planted import START, TINY

from training.recommend.batch import recommend_batch
from training.recommend.candidates import Popularity
from training.recommend.guard import (
    Case,
    ModePolicy,
    blend,
    decide,
    describe,
    policy_from_params,
    policy_metrics,
    policy_params,
)
from training.recommend.model import Recommender
from training.recommend.products import build_product_table
from training.recommend.rerank import RerankConfig, fit_reranker

INNER_CUTOFF, AS_OF = START + pd.Timedelta(days=50), START + pd.Timedelta(days=90)
# A ranker that cannot learn (one leaf): every candidate scores alike, so it orders them by product index.
UNLEARNT = replace(TINY, n_estimators=1, min_child_samples=10**6)


def _orders(rows: list[tuple[int, str, list[str]]]) -> pd.DataFrame:
    lines = [
        (f"o{n:05d}", customer, product, START + pd.Timedelta(days=day, hours=9))
        for n, (day, customer, products) in enumerate(rows)
        for product in products
    ]
    tx = pd.DataFrame(lines, columns=["order_id", "customer_id", "product_id", "ts"])
    return tx.assign(quantity=1, unit_price=2.0)


def skewed_popularity(seed: int = 0) -> pd.DataFrame:
    """200 customers buying pairs of 30 products, product j with weight (j + 1)^2: popularity is the answer."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, 31, dtype=float) ** 2
    rows = []
    for c in range(200):
        for _ in range(int(rng.integers(2, 6))):
            picked = rng.choice(30, size=2, replace=False, p=weights / weights.sum())
            rows.append((int(rng.integers(0, 90)), f"c{c:03d}", [f"p{p:02d}" for p in picked]))
    return _orders(rows)


def drifting_tastes(seed: int = 0) -> pd.DataFrame:
    """200 customers; each of 40 products sells around its own peak day, so what is rising sells next.

    All-time popularity, a customer's repeats and the factor models lag behind; the ranker reads the trend.
    """
    rng = np.random.default_rng(seed)
    peaks = np.linspace(-20, 130, 40)
    rows = []
    for c in range(200):
        for _ in range(int(rng.integers(3, 7))):
            day = int(rng.integers(0, 90))
            weights = np.exp(-((day - peaks) ** 2) / (2 * 12.0**2))
            picked = rng.choice(40, size=2, replace=False, p=weights / weights.sum())
            rows.append((day, f"c{c:03d}", [f"p{p:02d}" for p in picked]))
    return _orders(rows)


def _fit(tx: pd.DataFrame, config: RerankConfig) -> Recommender:
    reranker = fit_reranker(tx, INNER_CUTOFF, 30, config, AS_OF, lambda _: None)
    return Recommender.build(reranker, build_product_table(reranker.interactions.product_ids, tx))


@pytest.fixture(scope="module")
def losing() -> Recommender:
    return _fit(skewed_popularity(), UNLEARNT)


@pytest.fixture(scope="module")
def winning() -> Recommender:
    return _fit(drifting_tastes(), TINY)


def _ids(recommender: Recommender, customer: str | None, mode: str, k: int = 5, **kwargs) -> list[str]:
    return [i.product_id for i in recommender.recommend(customer, mode=mode, k=k, **kwargs).items]  # type: ignore[arg-type]


def test_blend_spans_the_model_to_the_baseline() -> None:
    model = [(0, 0.9), (1, 0.8), (2, 0.7), (3, 0.6)]
    baseline = [(3, 5.0), (4, 4.0)]
    assert blend(model, baseline, 1.0) == model
    fallback = [i for i, _ in blend(model, baseline, 0.0)]
    assert fallback == [3, 4, 0, 1, 2]  # the baseline first, then the model's other candidates in its order
    half = blend(model, baseline, 0.5)
    assert [i for i, _ in half][:2] == [3, 0]  # in both lists beats first in one
    assert sorted(i for i, _ in half) == [0, 1, 2, 3, 4]
    scores = [s for _, s in half]
    assert scores == sorted(scores, reverse=True)


def _cases(n: int, model: list[list[int]], **baselines: list[list[int]]) -> list[Case]:
    """n customers, customer i wanting product i (products n... want nobody); a list of product indices each."""
    ids = [f"p{i}" for i in range(n + 20)]
    return [
        Case(
            f"c{i}",
            [(item, 1.0 - rank / 100) for rank, item in enumerate(model[i])],
            {name: np.array(b[i]) for name, b in baselines.items()},
            {f"p{i}"},
            ids,
        )
        for i in range(n)
    ]


def _finding(n: int, found: range, at: int = 0, other: bool = False) -> list[list[int]]:
    """Ten products per customer, what they want at rank `at` for customers in `found`, else products nobody
    wants (`other`: ten others than the first ten, so that a blend of two such lists is twenty long)."""
    lists = [[n + 10 * other + j for j in range(10)] for _ in range(n)]
    for i in found:
        lists[i][at] = i
    return lists


def test_a_clear_win_keeps_the_model_and_reports_its_interval() -> None:
    policy = decide(_cases(200, _finding(200, range(60)), popularity=_finding(200, range(50, 60))))
    assert (policy.kind, policy.weight, policy.baseline) == ("model", 1.0, "popularity")
    assert (policy.inner_model, policy.inner_baseline, policy.customers, policy.sessions) == (0.3, 0.05, 200, 200)
    assert policy.gain == pytest.approx(0.25)
    assert 0 < policy.gain_low < policy.gain < policy.gain_high < 0.5
    assert "200 held-out customers" in describe("cross_sell", policy) and "90% interval" in describe("all", policy)
    metrics = policy_metrics({"cross_sell": policy})
    assert metrics["inner_cross_sell_gain_low"] == policy.gain_low and metrics["inner_cross_sell_customers"] == 200
    assert policy_from_params({k: str(v) for k, v in policy_params({"all": policy}).items()}) == {"all": policy}


def test_a_small_noisy_win_falls_back_to_the_baseline() -> None:
    """The model finds 20 customers' products (low in its lists), popularity 18 others': ahead on the mean,
    within the noise; no blend keeps both."""
    policy = decide(_cases(200, _finding(200, range(20), 9), popularity=_finding(200, range(18, 36), other=True)))
    assert policy.inner_model > policy.inner_baseline  # the rule before this one kept the model here
    assert (policy.kind, policy.baseline, policy.weight, policy.inner_chosen) == ("fallback", "popularity", 0.0, 0.09)
    assert policy.gain == pytest.approx(0.01) and policy.gain_low < 0 < policy.gain < policy.gain_high
    again = decide(
        _cases(200, _finding(200, range(20), 9), popularity=_finding(200, range(18, 36), other=True)), seed=1
    )
    assert again.kind == "fallback" and again.gain_low != policy.gain_low  # another seed: other resamples


def test_a_tie_goes_to_the_baseline_and_a_clear_blend_replaces_it() -> None:
    hit, miss = _finding(12, range(12)), _finding(12, range(0))
    tie = decide(_cases(12, hit, popularity=hit))
    assert (tie.kind, tie.gain, tie.gain_low, tie.gain_high) == ("fallback", 0.0, 0.0, 0.0)
    taken = decide(_cases(12, miss, popularity=miss, als=hit))
    assert (taken.kind, taken.baseline, taken.weight, taken.inner_model, taken.inner_chosen) == (
        "fallback",
        "als",
        0.0,
        0.0,
        1.0,
    )  # a blend finds as much as the baseline, not more: the baseline answers
    some = hit[:4] + miss[4:]  # the model finds what 4 customers want, the baseline the other 8
    blended = decide(_cases(12, some, als=miss[:4] + hit[4:]))
    assert (blended.kind, blended.weight, blended.inner_chosen) == ("blend", 0.5, 1.0)  # 0.75 misses its rank 0
    too_few = decide(_cases(12, miss, als=hit)[:5])
    assert too_few.kind == "model" and too_few.customers == 5 and np.isnan(too_few.gain_low)


def test_a_baseline_ahead_on_the_inner_validation_takes_over_its_modes(losing: Recommender) -> None:
    assert set(losing.policy) == {"all", "cross_sell"}
    for mode, policy in losing.policy.items():
        assert policy.kind in ("blend", "fallback"), mode
        assert policy.baseline in ("popularity", "repeat_then_popular"), mode
        assert policy.inner_baseline > policy.inner_model + 0.1, mode
        assert (
            policy.inner_chosen >= policy.inner_baseline
            and policy.customers >= 20
            and policy.sessions >= policy.customers
        )
    params = losing.policy_params()
    assert params["policy_cross_sell_kind"] == losing.policy["cross_sell"].kind
    assert set(params) == {f"policy_{m}_{f}" for m in ("all", "cross_sell") for f in ModePolicy.__dataclass_fields__}


def test_a_fallback_answers_like_its_baseline_and_keeps_stock_reasons_guests_and_carts(losing: Recommender) -> None:
    x = losing.reranker.interactions
    policy = losing.policy["cross_sell"]
    popular = Popularity().fit(x)
    customer = x.customer_ids[0]
    history = set(x.history(0).tolist())
    found = _ids(losing, customer, "cross_sell")
    expected = [x.product_ids[i] for i, _ in popular.candidates(0, [], 5, history)]
    if policy.kind == "fallback":
        assert found == expected
    assert found[0] == expected[0]
    assert not {x.product_index[p] for p in found} & history
    available = np.ones(x.n_products, dtype=bool)
    available[x.product_index[found[0]]] = False
    in_stock = losing.recommend(customer, [], "cross_sell", 5, available)
    assert found[0] not in [i.product_id for i in in_stock.items] and len(in_stock.items) == 5
    assert all(i.reason for i in in_stock.items)
    assert len(_ids(losing, None, "cross_sell")) == 5  # a guest without a cart: the baseline serves guests too
    cart = [x.product_ids[0]]
    pure = losing.reranker.recommend(None, [0], 5, new_only=True)
    assert _ids(losing, None, "cross_sell", cart=cart) == [x.product_ids[i] for i, _ in pure]  # a cart: the ranker


def test_batch_follows_the_policy_like_one_by_one(losing: Recommender) -> None:
    customers = list(losing.reranker.interactions.customer_ids[:4]) + ["nobody"]
    for mode in ("all", "cross_sell", "up_sell"):
        batch = recommend_batch(losing, customers, mode, 4, progress=lambda _: None)  # type: ignore[arg-type]
        for customer in customers:
            assert batch.loc[batch["customer_id"] == customer, "product_id"].tolist() == _ids(losing, customer, mode, 4)


def test_a_model_ahead_on_the_inner_validation_keeps_itself(winning: Recommender) -> None:
    for mode, policy in winning.policy.items():
        assert policy.kind == "model" and policy.weight == 1.0, mode
        assert policy.inner_model > policy.inner_baseline, mode
    x = winning.reranker.interactions
    for customer in range(3):
        pure = winning.reranker.recommend(customer, [], 5, new_only=True)
        assert _ids(winning, x.customer_ids[customer], "cross_sell") == [x.product_ids[i] for i, _ in pure]


def test_without_a_validation_share_or_a_recorded_policy_the_model_answers(losing: Recommender) -> None:
    unjudged = _fit(skewed_popularity(), replace(UNLEARNT, validation_share=0.0))
    assert unjudged.policy == {} and unjudged.reranker.baselines == {}
    x = unjudged.reranker.interactions
    pure = unjudged.reranker.recommend(0, [], 5, new_only=True)
    assert _ids(unjudged, x.customer_ids[0], "cross_sell") == [x.product_ids[i] for i, _ in pure]
    del unjudged.reranker.policy, unjudged.reranker.baselines  # as pickled before policies existed
    assert unjudged.policy == {}
    assert _ids(unjudged, x.customer_ids[0], "cross_sell") == [x.product_ids[i] for i, _ in pure]


def test_too_few_held_out_customers_keep_the_model() -> None:
    """A share so small that some label windows hold out nobody: nothing to judge, the model answers."""
    tiny = _fit(skewed_popularity(), replace(UNLEARNT, validation_share=0.02))
    for policy in tiny.policy.values():
        assert policy.kind == "model" and policy.customers < 10
