"""The recommender's answer: modes, reasons, stock, guests and bad input, on tiny data with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from planted import AS_OF, INNER_CUTOFF, NEWCOMERS, STAPLE, START, TINY, A, B, planted_transactions

from training.recommend.batch import recommend_batch
from training.recommend.model import Recommender, UnknownProducts
from training.recommend.products import build_product_table
from training.recommend.pyfunc import LAYOUT, RecommenderModel, StaleModel, recommender_of
from training.recommend.rerank import fit_reranker
from training.recommend.side_features import SideFeatures

BETTER_A, BEST_A, SHELF = "p12", "p13", "p14"  # pricier tiers of A's category; a product nobody has bought


def _products() -> pd.DataFrame:
    ids = [f"p{i:02d}" for i in range(15)]
    category = {A: "garden", BETTER_A: "garden", BEST_A: "garden", B: "tools"}
    tier = {BETTER_A: "better", BEST_A: "best"}
    return pd.DataFrame(
        {
            "product_id": ids,
            "name": [f"name {p}" for p in ids],
            "category": [category.get(p, "food") for p in ids],
            "tier": [tier.get(p, "good") for p in ids],
        }
    )


def _transactions() -> pd.DataFrame:
    """The planted history plus two early buyers of the pricier tiers, so they are known products."""
    tx = planted_transactions()
    extra = pd.DataFrame(
        {
            "order_id": ["x1", "x2"],
            "customer_id": ["u00", "u01"],
            "product_id": [BETTER_A, BEST_A],
            "ts": [START + pd.Timedelta(days=3), START + pd.Timedelta(days=4)],
            "unit_price": [9.0, 14.0],
            "quantity": [1, 1],
        }
    )
    return pd.concat([tx, extra], ignore_index=True)


def _fit(tx: pd.DataFrame) -> Recommender:
    products = _products()
    reranker = fit_reranker(tx, INNER_CUTOFF, 30, TINY, AS_OF, lambda _: None, SideFeatures(products))
    table = build_product_table(reranker.interactions.product_ids, tx, products)
    return Recommender.build(reranker, table, products["product_id"].tolist())


@pytest.fixture(scope="module")
def recommender() -> Recommender:
    return _fit(_transactions())


def _ids(found) -> list[str]:
    return [i.product_id for i in found.items]


def test_cross_sell_ranks_the_planted_complement_top_3_and_says_why(recommender: Recommender) -> None:
    for customer in NEWCOMERS:
        found = recommender.recommend(customer, [], "cross_sell", 3)
        assert B in _ids(found), customer
        assert found.customer_known and found.note == ""
        reason = found.items[_ids(found).index(B)].reason
        assert reason == f"often bought after name {A}", reason


def test_cross_sell_never_returns_bought_or_cart_products(recommender: Recommender) -> None:
    x = recommender.reranker.interactions
    for customer in x.customer_ids:
        bought = {x.product_ids[i] for i in x.history(x.customer_index[customer])}
        found = _ids(recommender.recommend(customer, ["p05"], "cross_sell", 5))
        assert len(found) == len(set(found))
        assert not set(found) & (bought | {"p05"}), customer


def test_all_mode_may_repeat_and_says_so(recommender: Recommender) -> None:
    found = recommender.recommend("n00", [], "all", 10)
    repeats = [i for i in found.items if i.reason.startswith("you bought this")]
    assert STAPLE in [i.product_id for i in repeats] or any(i.reason.startswith("often") for i in found.items)
    x = recommender.reranker.interactions
    bought = {x.product_ids[i] for i in x.history(x.customer_index["n00"])}
    assert set(_ids(found)) & bought


def test_up_sell_offers_a_higher_tier_of_the_cart_category_first(recommender: Recommender) -> None:
    found = recommender.recommend(None, [A], "up_sell", 3)
    assert _ids(found)[0] in (BETTER_A, BEST_A)
    assert set(_ids(found)) == {BETTER_A, BEST_A}  # nothing else is a pricier garden product
    assert all(i.reason == f"upgrade from name {A}" for i in found.items)


def test_up_sell_without_a_cart_upgrades_the_purchase_history(recommender: Recommender) -> None:
    found = recommender.recommend(NEWCOMERS[0], [], "up_sell", 5)
    assert set(_ids(found)) == {BETTER_A, BEST_A}
    nothing = recommender.recommend(None, [BEST_A], "up_sell", 5)
    assert nothing.items == [] and nothing.note.startswith("nothing to upgrade")


def test_guest_cart_and_unknown_customer_fall_back_and_say_so(recommender: Recommender) -> None:
    guest = recommender.recommend(None, [A, STAPLE], "cross_sell", 3)
    assert _ids(guest)[0] == B and not guest.customer_known
    assert guest.note == "guest: recommendations from the cart"
    stranger = recommender.recommend("nobody", [A], "all", 3)
    assert stranger.note == "unknown customer nobody: recommendations from the cart and popularity"
    assert _ids(stranger) == _ids(recommender.recommend(None, [A], "all", 3))
    empty = recommender.recommend(None, [], "all", 3)
    assert len(empty.items) == 3 and empty.note == "no customer or cart: popular products"


def test_unknown_cart_products_are_named_known_unsold_ones_accepted(recommender: Recommender) -> None:
    with pytest.raises(UnknownProducts, match="unknown products in the cart: nope1, nope2") as error:
        recommender.recommend("n00", [A, "nope2", "nope1"], "all", 3)
    assert error.value.product_ids == ["nope1", "nope2"]
    assert len(recommender.recommend("n00", [SHELF], "all", 3).items) == 3
    with pytest.raises(ValueError, match="unknown mode 'sideways'"):
        recommender.recommend("n00", [], "sideways", 3)  # type: ignore[arg-type]


def test_unavailable_products_are_never_returned_and_the_list_is_refilled(recommender: Recommender) -> None:
    ids = list(recommender.product_ids)
    first = recommender.recommend("t00", [], "cross_sell", 3)
    available = np.ones(len(ids), dtype=bool)
    available[ids.index(B)] = False
    found = recommender.recommend("t00", [], "cross_sell", 3, available)
    assert B in _ids(first) and B not in _ids(found)
    assert len(found.items) == 3
    none = recommender.recommend("t00", [], "all", 3, np.zeros(len(ids), dtype=bool))
    assert none.items == []


def test_batch_matches_one_by_one_for_every_mode(recommender: Recommender) -> None:
    customers = ["a00", "n03", "t01", "nobody"]
    for mode in ("all", "cross_sell", "up_sell"):
        batch = recommend_batch(recommender, customers, mode, 4, progress=lambda _: None)
        for customer in customers:
            one = recommender.recommend(customer, [], mode, 4)
            rows = batch[batch["customer_id"] == customer]
            assert rows["product_id"].tolist() == _ids(one)
            assert rows["rank"].tolist() == list(range(1, len(one.items) + 1))
            assert rows["reason"].tolist() == [i.reason for i in one.items]


def test_pyfunc_answers_like_the_recommender(recommender: Recommender) -> None:
    frame = pd.DataFrame(
        {"customer_id": ["t00", None], "cart": [[], [A]], "mode": ["cross_sell", "up_sell"], "k": [3, 2]}
    )
    out = RecommenderModel(recommender).predict(None, frame)
    assert out["product_ids"].tolist() == [
        _ids(recommender.recommend("t00", [], "cross_sell", 3)),
        _ids(recommender.recommend(None, [A], "up_sell", 2)),
    ]
    assert out["note"].tolist() == ["", "guest: recommendations from the cart"]


def test_nothing_from_as_of_on_is_used(recommender: Recommender) -> None:
    """Later transactions, however odd, change nothing in a model trained as of AS_OF."""
    tx = _transactions()
    late = tx.sample(40, random_state=1).assign(ts=AS_OF + pd.Timedelta(days=2), product_id=SHELF)
    again = _fit(pd.concat([tx, late], ignore_index=True))
    for customer in ["a00", "n03", "t01", None]:
        for mode in ("all", "cross_sell", "up_sell"):
            one = recommender.recommend(customer, [A], mode, 5)
            two = again.recommend(customer, [A], mode, 5)
            assert one == two


class _Loaded:
    """What `mlflow.pyfunc.load_model` returns, as far as `recommender_of` looks."""

    def __init__(self, model: RecommenderModel) -> None:
        self.model = model

    def unwrap_python_model(self) -> RecommenderModel:
        return self.model


def test_a_model_pickled_with_another_layout_is_refused_clearly(recommender: Recommender) -> None:
    current = RecommenderModel(recommender)
    assert recommender_of(_Loaded(current), "recommender v1") is recommender
    unrecorded = RecommenderModel(recommender)
    del unrecorded.layout  # pickled before layouts were recorded
    older = RecommenderModel(recommender)
    older.layout = LAYOUT - 1
    for stale, layout in ((unrecorded, 1), (older, LAYOUT - 1)):
        with pytest.raises(StaleModel, match=rf"recommender v3 .*layout {layout}.*retrain it with `retail train"):
            recommender_of(_Loaded(stale), "recommender v3")


def test_entries_are_those_of_the_sparse_sub_matrix() -> None:
    """The reasons' lookup of (anchor, product) values equals scipy's slicing, missing entries and repeats included."""
    import scipy.sparse as sp

    from training.recommend.ranking import entries

    rng = np.random.default_rng(0)
    for trial in range(50):
        shape = (int(rng.integers(1, 40)), int(rng.integers(1, 60)))
        matrix = sp.random(*shape, density=float(rng.random()), format="csr", dtype=np.float32, random_state=trial)
        rows = rng.integers(0, shape[0], size=int(rng.integers(0, 12))).tolist()
        columns = rng.integers(0, shape[1], size=int(rng.integers(0, 12))).tolist()
        expected = matrix[rows][:, columns].toarray() if rows and columns else np.zeros((len(rows), len(columns)))
        assert np.array_equal(entries(matrix, rows, columns), expected), trial


def test_upgrades_are_a_higher_tier_than_an_anchor_in_its_category(recommender: Recommender) -> None:
    codes, tiers = recommender.products.category_code, recommender.products.tier
    for anchors in ([], [0], [1, 2], list(range(recommender.n_pool)), [recommender.product_ids.index(A)]):
        expected = np.zeros(recommender.n_pool, dtype=bool)
        for anchor in anchors:
            expected |= (codes == codes[anchor]) & (tiers > tiers[anchor])
        assert np.array_equal(recommender.lookups.upgrades(anchors), expected), anchors


def test_cached_lookups_are_not_pickled(recommender: Recommender) -> None:
    import pickle

    recommender.recommend(None, [A], "up_sell", 5)  # fills the per-request lookups
    assert "_lookups" in recommender.__dict__
    assert "_lookups" not in pickle.loads(pickle.dumps(recommender)).__dict__
