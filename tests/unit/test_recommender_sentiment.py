"""Product sentiment as an optional ranker input: read point in time at every cutoff, off unless asked for."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from planted import AS_OF, INNER_CUTOFF, TINY, A, planted_transactions

from features.catalog import RECOMMENDER_CUSTOMER_FEATURES as FEAST
from features.catalog import SENTIMENT_FEATURES
from training.recommend.columns import side_names
from training.recommend.model import Recommender
from training.recommend.products import build_product_table
from training.recommend.rerank import fit_reranker
from training.recommend.side_features import PRODUCT_PREFIX, SideFeatures, stamped_product_lookup

DAY = pd.Timedelta(days=1)
NAMES = ("sentiment_mean_365d", "reviews_365d")


def _table() -> pd.DataFrame:
    """Two products' rolled-up sentiment, each row stamped the day after its reviews (as `features.sentiment`)."""
    stamps = [INNER_CUTOFF - 20 * DAY, INNER_CUTOFF + DAY, INNER_CUTOFF - 5 * DAY]
    table = pd.DataFrame({"product_id": [A, A, "p02"], "event_timestamp": stamps})
    for name in SENTIMENT_FEATURES:
        table[name] = np.float32(0.0)
    table["sentiment_mean_365d"] = np.float32([0.9, 0.2, 0.6])
    table["reviews_365d"] = np.float32([1, 2, 4])
    return table


def test_the_lookup_reads_each_products_newest_row_at_or_before_the_cutoff() -> None:
    lookup = stamped_product_lookup(_table(), NAMES)
    before = lookup(INNER_CUTOFF - 21 * DAY, [A, "p02"])
    assert np.isnan(before).all()  # nothing reviewed yet
    at = lookup(INNER_CUTOFF, ["p02", "unknown", A])  # in the order asked; an unknown product is NaN
    assert at[0].tolist() == pytest.approx([0.6, 4.0]) and np.isnan(at[1]).all()
    assert at[2].tolist() == pytest.approx([0.9, 1.0])  # the row stamped a day after the cutoff is not seen
    assert lookup(INNER_CUTOFF + DAY, [A])[0].tolist() == pytest.approx([0.2, 2.0])  # stamped on it: seen


def test_the_family_default_reads_no_product_sentiment() -> None:
    side = SideFeatures()
    assert side.names == list(side_names(FEAST))
    assert not any(n.startswith(PRODUCT_PREFIX) for n in side.names)


def test_product_sentiment_reaches_the_rankers_as_of_each_cutoff() -> None:
    tx = planted_transactions()
    table = _table()
    asked: list[pd.Timestamp] = []
    read = stamped_product_lookup(table, NAMES)

    def lookup(cutoff: pd.Timestamp, ids: Sequence[str]) -> np.ndarray:
        asked.append(pd.Timestamp(cutoff))
        return read(cutoff, ids)

    side = SideFeatures(product_lookup=lookup, product_names=NAMES)
    reranker = fit_reranker(tx, INNER_CUTOFF, 30, TINY, AS_OF, lambda _: None, side)
    columns = [PRODUCT_PREFIX + n for n in NAMES]
    assert list(reranker.feature_names[-len(NAMES) :]) == columns
    for model in reranker.models.values():
        assert list(model.booster_.feature_name()[-len(NAMES) :]) == columns
    assert max(asked) == AS_OF and INNER_CUTOFF in asked  # every label window's cutoff, the final fit's last
    assert reranker.side is not None
    served = reranker.side.product
    assert served is not None and served.shape == (reranker.interactions.n_products, len(NAMES))
    a = reranker.interactions.product_index[A]
    assert served[a].tolist() == pytest.approx([0.2, 2.0])  # as of AS_OF: the newest row

    recommender = Recommender.build(reranker, build_product_table(reranker.interactions.product_ids, tx))
    answer = recommender.recommend("t00", [], "cross_sell", k=3)  # a request builds the same columns
    assert len(answer.items) == 3 and A not in [i.product_id for i in answer.items]
