"""Never below its own baselines: the inner validation's per-mode decision, and how it answers requests."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from planted import START, TINY

from training.recommend.batch import recommend_batch
from training.recommend.candidates import Popularity
from training.recommend.guard import Case, ModePolicy, blend, decide
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


def test_decide_keeps_the_model_unless_a_baseline_is_ahead() -> None:
    ids = [f"p{i}" for i in range(12)]

    def cases(model: list[int], **baselines: list[int]) -> list[Case]:
        """Twelve customers, customer i wanting product i; each list proposes one product per customer."""
        return [
            Case(f"c{i}", [(model[i], 1.0)], {n: np.array([b[i]]) for n, b in baselines.items()}, {f"p{i}"}, ids)
            for i in range(12)
        ]

    hit, miss = list(range(12)), [(i + 1) % 12 for i in range(12)]
    kept = decide(cases(hit, popularity=miss, als=miss))
    assert (kept.kind, kept.weight, kept.inner_model, kept.inner_baseline) == ("model", 1.0, 1.0, 0.0)
    assert (kept.customers, kept.sessions) == (12, 12)
    assert decide(cases(hit, popularity=hit)).kind == "model"  # a tie goes to the model
    taken = decide(cases(miss, popularity=miss, als=hit))
    assert (taken.kind, taken.baseline, taken.weight, taken.inner_model, taken.inner_chosen) == (
        "fallback",
        "als",
        0.0,
        0.0,
        1.0,
    )  # a blend finds as much as the baseline, not more: the baseline answers
    some = hit[:4] + miss[4:]  # the model finds what 4 customers want, the baseline the other 8
    blended = decide(cases(some, als=miss[:4] + hit[4:]))
    assert (blended.kind, blended.weight, blended.inner_chosen) == ("blend", 0.75, 1.0)  # clearly above both
    too_few = decide(cases(miss, als=hit)[:5])
    assert too_few.kind == "model" and too_few.customers == 5


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
