"""Ranking metrics (recall@k, NDCG@k) and the offline evaluation of candidate sources under the shared protocol
(../shared/data/README.md); the whole recommender's evaluation is `evaluate`.

Train on purchases before a cutoff; the truth is each customer's purchases from the cutoff on, for customers
seen before it. `new_only` keeps only products the customer had never bought (the cross-sell case) and then
excludes already-bought products from the candidates. Products first sold after the cutoff stay in the truth:
no model can propose them, and the figures say so honestly.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Hashable, Sequence
from collections.abc import Set as AbstractSet

import numpy as np
import pandas as pd

from training.recommend.candidates import CandidateSource
from training.recommend.dataset import Interactions, build_interactions, purchases

log = logging.getLogger(__name__)


def recall_at_k(recommended: Sequence[Hashable], truth: AbstractSet[Hashable], k: int) -> float:
    """Hits in the top k over min(k, |truth|), so a perfect list scores 1 however much was bought."""
    if not truth:
        raise ValueError("recall is undefined without relevant items")
    hits = sum(1 for item in recommended[:k] if item in truth)
    return hits / min(k, len(truth))


def ndcg_at_k(recommended: Sequence[Hashable], truth: AbstractSet[Hashable], k: int) -> float:
    """Binary-relevance NDCG: discounted hits over the best achievable with min(k, |truth|) hits."""
    if not truth:
        raise ValueError("NDCG is undefined without relevant items")
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(recommended[:k]) if item in truth)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(k, len(truth))))
    return dcg / ideal


def split_at(tx: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transactions before the cutoff (training) and from it on (test)."""
    before = tx["ts"] < pd.Timestamp(cutoff)
    return tx.loc[before], tx.loc[~before]


def truth_sets(interactions: Interactions, test_tx: pd.DataFrame, new_only: bool = False) -> dict[int, set[str]]:
    """Products each known customer bought in the test period (only never-bought ones when `new_only`)."""
    test = purchases(test_tx)
    test = test[test["customer_id"].isin(interactions.customer_index)]
    truth: dict[int, set[str]] = {}
    for customer_id, products in test.groupby("customer_id")["product_id"]:
        customer = interactions.customer_index[str(customer_id)]
        bought = set(products)
        if new_only:
            bought -= {interactions.product_ids[i] for i in interactions.history(customer)}
        if bought:
            truth[customer] = bought
    return truth


def evaluate_fitted(
    source: CandidateSource,
    interactions: Interactions,
    test_tx: pd.DataFrame,
    k: int = 10,
    new_only: bool = False,
) -> dict[str, float]:
    """Mean recall@k and NDCG@k of a fitted source over the customers with a truth."""
    truth = truth_sets(interactions, test_tx, new_only)
    recalls, ndcgs = [], []
    for customer, relevant in truth.items():
        exclude = set(interactions.history(customer).tolist()) if new_only else None
        found = source.candidates(customer, [], k, exclude)
        recommended = [interactions.product_ids[i] for i, _ in found]
        recalls.append(recall_at_k(recommended, relevant, k))
        ndcgs.append(ndcg_at_k(recommended, relevant, k))
    return {
        f"recall_at_{k}": float(np.mean(recalls)) if recalls else float("nan"),
        f"ndcg_at_{k}": float(np.mean(ndcgs)) if ndcgs else float("nan"),
        "customers": float(len(truth)),
    }


def evaluate_source(
    source: CandidateSource,
    train_tx: pd.DataFrame,
    test_tx: pd.DataFrame,
    k: int = 10,
    new_only: bool = False,
) -> dict[str, float]:
    """Fit the source on the training transactions and evaluate it on the test period (plus fit seconds)."""
    interactions = build_interactions(train_tx)
    started = time.perf_counter()
    source.fit(interactions)
    seconds = time.perf_counter() - started
    log.info("%s fitted in %.2fs", source.name, seconds)
    return {**evaluate_fitted(source, interactions, test_tx, k, new_only), "fit_seconds": seconds}
