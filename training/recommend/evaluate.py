"""Judging a recommender on a held-out period: the truth as a table, and recall/NDCG of each mode on it.

The truth table (customer_id, product_id, never_bought) is what a training run logs as its evaluation set, so
any registered version can later be scored on exactly the same rows (promotion, comparison).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.recommend.batch import recommend_batch
from training.recommend.dataset import Interactions
from training.recommend.metrics import ndcg_at_k, recall_at_k, truth_sets
from training.recommend.model import Mode, Recommender

TRUTH_COLUMNS = ["customer_id", "product_id", "never_bought"]
# evaluation name -> (mode asked of the model, truth rows used)
MODE_TRUTH: dict[str, tuple[Mode, bool]] = {"all": ("all", False), "new": ("cross_sell", True)}


def truth_frame(interactions: Interactions, test_tx: pd.DataFrame) -> pd.DataFrame:
    """What each known customer bought in the test period, flagged when they had never bought it before."""
    every = truth_sets(interactions, test_tx, new_only=False)
    new = truth_sets(interactions, test_tx, new_only=True)
    rows = [
        (interactions.customer_ids[c], p, p in new.get(c, set())) for c, products in every.items() for p in products
    ]
    frame = pd.DataFrame(rows, columns=TRUTH_COLUMNS)
    return frame.sort_values(["customer_id", "product_id"], ignore_index=True)


def ranking_scores(found: dict[str, list[str]], truth: dict[str, set[str]], k: int) -> dict[str, float]:
    """Mean recall@k and NDCG@k over the customers of `truth` (a missing list counts as empty)."""
    if not truth:
        return {f"recall_at_{k}": float("nan"), f"ndcg_at_{k}": float("nan"), "customers": 0.0}
    recalls = [recall_at_k(found.get(c, []), t, k) for c, t in truth.items()]
    ndcgs = [ndcg_at_k(found.get(c, []), t, k) for c, t in truth.items()]
    return {f"recall_at_{k}": float(np.mean(recalls)), f"ndcg_at_{k}": float(np.mean(ndcgs)), "customers": len(truth)}


def evaluate_recommender(recommender: Recommender, truth: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """`{all,new}_{recall,ndcg}_at_k`: the model in `all` mode on every truth row, in cross_sell on new ones."""
    results: dict[str, float] = {}
    for name, (mode, new_only) in MODE_TRUTH.items():
        rows = truth[truth["never_bought"]] if new_only else truth
        wanted = {str(c): set(map(str, g)) for c, g in rows.groupby("customer_id")["product_id"]}
        batch = recommend_batch(recommender, sorted(wanted), mode, k, progress=lambda _: None)
        found = {str(c): g["product_id"].tolist() for c, g in batch.groupby("customer_id", sort=False)}
        for metric, value in ranking_scores(found, wanted, k).items():
            results[f"{name}_{metric}"] = value
    return results
