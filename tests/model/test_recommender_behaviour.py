"""The registered recommender on the simulated world, whose latent complements and tiers are known."""

from __future__ import annotations

import numpy as np
import pytest

from features.simulate import ground_truth

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def recommender(built):
    from training.recommend.batch import load_recommender

    return load_recommender(built.ws, built.settings)[0]


@pytest.fixture(scope="module")
def complements(recommender) -> list[tuple[str, str]]:
    """The simulator's planted (anchor, complement) pairs among products the model knows."""
    pairs = ground_truth(n_customers=1500, days=540, seed=7)["complements"]
    known = recommender.reranker.interactions.product_index
    return [(a, b) for a, b in pairs.itertuples(index=False) if a in known and b in known]


def test_planted_complements_rank_top_3_for_a_cart_holding_their_anchor(recommender, complements) -> None:
    """Buyers of A later buy B: a cart with A gets B in the top 3 of cross_sell far more often than chance."""
    assert len(complements) >= 50
    hits = [
        b in [i.product_id for i in recommender.recommend(None, [a], "cross_sell", 3).items] for a, b in complements
    ]
    chance = 3 / recommender.reranker.interactions.n_products
    assert np.mean(hits) >= 0.5, f"{np.mean(hits):.2f} of {len(hits)} planted complements in the top 3"
    assert np.mean(hits) > 20 * chance


def test_complements_reach_the_anchors_buyers_who_lack_them(recommender, complements) -> None:
    """Customers whose latest order held A and who never bought B: B is in their cross_sell top 3 often."""
    x = recommender.reranker.interactions
    partner = dict(complements)
    hits = []
    for customer in x.customer_ids:
        index = x.customer_index[customer]
        history = {x.product_ids[i] for i in x.history(index)}
        latest = {x.product_ids[i] for i in recommender.reranker.context.last_basket[index].indices}
        wanted = {partner[a] for a in latest if a in partner} - history
        if wanted:
            found = {i.product_id for i in recommender.recommend(customer, [], "cross_sell", 3).items}
            hits.append(bool(found & wanted))
    assert len(hits) >= 50
    assert np.mean(hits) >= 0.3, f"{np.mean(hits):.2f} of {len(hits)} customers"


def test_up_sell_puts_a_higher_tier_of_the_cart_category_first(recommender) -> None:
    table = recommender.products.frame
    checked = 0
    for anchor in table.loc[table["tier"] < 2, "product_id"].head(60):
        found = recommender.recommend(None, [anchor], "up_sell", 3).items
        a = table.index[table["product_id"] == anchor][0]
        if not found:  # only when the category has no higher tier the model knows
            assert not ((table["category"] == table.at[a, "category"]) & (table["tier"] > table.at[a, "tier"])).any()
            continue
        first = table.index[table["product_id"] == found[0].product_id][0]
        assert table.at[first, "category"] == table.at[a, "category"] and table.at[first, "tier"] > table.at[a, "tier"]
        checked += 1
    assert checked >= 40


def test_model_beats_its_baselines_on_the_held_out_period(built) -> None:
    m = built.recommender_metrics
    assert m["model_all_recall_at_10"] > m["popularity_all_recall_at_10"]
    assert m["model_all_recall_at_10"] > m["repeat_then_popular_all_recall_at_10"]
    assert m["model_new_recall_at_10"] > m["als_new_recall_at_10"]


def test_the_registered_model_reads_todays_features_and_records_a_policy_per_mode(recommender) -> None:
    """A model the service loads is checked by feature name; its guard decided each judged mode on held-out data."""
    from training.recommend.columns import check_features

    check_features(recommender, "the registered recommender")
    assert set(recommender.policy) == {"all", "cross_sell"}
    for mode, policy in recommender.policy.items():
        if policy.kind == "model":
            assert policy.inner_model >= policy.inner_baseline, mode
        else:
            assert policy.inner_chosen >= policy.inner_baseline > policy.inner_model, mode
