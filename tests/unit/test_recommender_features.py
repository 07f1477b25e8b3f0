"""The ranker's features by name: one layout, names recorded at fit, checked at load, customer features by name."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from planted import AS_OF, INNER_CUTOFF, TINY, A, planted_transactions

import features.catalog as catalog
from training.recommend.columns import ITEM_FEATURES, Matrix, StaleModel, check_features, ranker_names
from training.recommend.model import Recommender
from training.recommend.pairs import build_context, candidate_frame
from training.recommend.products import build_product_table
from training.recommend.rerank import fit_reranker
from training.recommend.side_features import SideFeatures

FEAST = catalog.RECOMMENDER_CUSTOMER_FEATURES


def _lookup(cutoff: pd.Timestamp, ids) -> np.ndarray:
    """Made-up Feast rows: distinct per customer and feature, so a swapped column would show."""
    codes = np.array([sum(map(ord, i)) for i in ids], dtype=np.float64)
    return codes[:, None] * 0.01 + np.arange(len(FEAST))[None, :]


@pytest.fixture(scope="module")
def recommender() -> Recommender:
    tx = planted_transactions()
    reranker = fit_reranker(tx, INNER_CUTOFF, 30, TINY, AS_OF, lambda _: None, SideFeatures(customer_lookup=_lookup))
    return Recommender.build(reranker, build_product_table(reranker.interactions.product_ids, tx))


def test_a_matrix_is_filled_by_name_and_refuses_unknown_or_missing_columns() -> None:
    matrix = Matrix(("a", "b", "c"), 2)
    matrix["b"] = [1.0, 2.0]
    matrix.put(("c", "a"), np.array([[3.0, 4.0], [5.0, 6.0]]))
    assert matrix.done().tolist() == [[4.0, 1.0, 3.0], [6.0, 2.0, 5.0]]
    with pytest.raises(KeyError):
        matrix["d"] = 0.0
    unfinished = Matrix(("a", "b"), 1)
    unfinished["a"] = 0.0
    with pytest.raises(ValueError, match="never filled: b"):
        unfinished.done()


def test_the_candidate_frame_has_the_layouts_columns_by_name() -> None:
    ctx = build_context(planted_transactions(), TINY.sources(), TINY.proposals, AS_OF)
    customer = ctx.interactions.customer_index["a05"]
    rows, items, features = candidate_frame(ctx, [customer], [[]], new_only=False)
    names = ctx.feature_names
    assert names == list(ranker_names(TINY.sources(), None)) and features.shape[1] == len(names)
    bought = ctx.interactions.matrix[customer].toarray().ravel()
    assert np.array_equal(features[:, names.index("times_bought")], bought[items])
    assert np.allclose(
        features[:, names.index("item_orders")], ctx.item_table[items, ITEM_FEATURES.index("item_orders")]
    )


def test_the_fitted_rankers_record_the_names_this_code_computes(recommender: Recommender) -> None:
    expected = ranker_names(TINY.sources(), FEAST)
    assert recommender.feature_names == expected
    for model in recommender.reranker.models.values():
        assert tuple(model.booster_.feature_name()) == expected
    assert recommender.customer_feature_names == FEAST
    check_features(recommender)  # a fresh model passes


@pytest.mark.parametrize(
    ("feast", "message"),
    [
        ((*FEAST, "basket_entropy"), r"it lacks customer_basket_entropy\)"),
        (FEAST[1:], rf"it reads customer_{FEAST[0]}, which this code no longer computes"),
        ((FEAST[1], FEAST[0], *FEAST[2:]), "the same features in another order"),
    ],
)
def test_a_model_trained_on_other_features_is_stale(
    recommender: Recommender, monkeypatch: pytest.MonkeyPatch, feast: tuple[str, ...], message: str
) -> None:
    monkeypatch.setattr(catalog, "RECOMMENDER_CUSTOMER_FEATURES", feast)
    with pytest.raises(StaleModel, match=rf"recommender v3 was trained with other features.*{message}.*retail train"):
        check_features(recommender, "recommender v3")
    assert issubclass(StaleModel, ValueError)


def test_customer_features_are_passed_by_name(recommender: Recommender) -> None:
    x, side = recommender.reranker.interactions, recommender.reranker.side
    assert side is not None
    customer = "a05"
    stored = dict(zip(FEAST, side.customer[x.customer_index[customer]].tolist(), strict=True))
    as_trained = recommender.recommend(customer, [A], "cross_sell", 5)
    assert recommender.recommend(customer, [A], "cross_sell", 5, customer_features=stored) == as_trained
    reordered = dict(reversed(list(stored.items())))
    assert recommender.recommend(customer, [A], "cross_sell", 5, customer_features=reordered) == as_trained
    partial = {FEAST[0]: stored[FEAST[0]] + 50.0, FEAST[1]: None}
    row = np.full((1, len(FEAST)), np.nan)
    row[0, 0] = stored[FEAST[0]] + 50.0
    pool = recommender.reranker.recommend_many([x.customer_index[customer]], [[x.product_index[A]]], 5, True, row)
    found = recommender.recommend(customer, [A], "cross_sell", 5, customer_features=partial)
    assert [i.product_id for i in found.items] == [x.product_ids[i] for i, _ in pool[0]]  # missing/None: NaN
    with pytest.raises(ValueError, match="unknown customer features: nope"):
        recommender.recommend(customer, [], "all", 5, customer_features={"nope": 1.0})
    with pytest.raises(TypeError, match="mapping"):
        recommender.recommend(customer, [], "all", 5, customer_features=np.zeros(len(FEAST)))  # type: ignore[arg-type]
