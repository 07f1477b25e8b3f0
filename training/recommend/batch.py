"""The recommender's one batch path: ranked lists for many customers at once, from a registered recommender.

`retail predict recommender` (`RecommenderFamily.predict`), the evaluation, the campaign and its Spark pyfunc all
call it. A block of customers is answered by `ranking.rank`, the code that answers a request
(`Recommender.recommend` is a block of one row), so a batch and a request give the same lists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from retail.settings import Settings
from retail.workspace import Workspace
from training import run
from training.recommend import MODEL_NAME
from training.recommend.model import Recommender
from training.recommend.pyfunc import recommender_of
from training.recommend.ranking import NONE, Mode, Ranked, check_mode, rank

__all__ = ["BLOCK", "NONE", "Ranked", "load_recommender", "rank_customers", "recommend_batch", "recommend_customers"]

log = logging.getLogger(__name__)
BLOCK = 2_000  # customers per block: large enough for the rankers' batches, small enough for rows x products masks
COLUMNS = ["customer_id", "rank", "product_id", "score", "reason"]


def load_recommender(ws: Workspace, settings: Settings, alias: str = "champion") -> tuple[Recommender, str]:
    """The `Recommender` inside the registered version behind `alias`, and that version."""
    loaded, version = run.load(ws, settings, MODEL_NAME, alias)
    return recommender_of(loaded, f"{MODEL_NAME}@{alias}"), version


def rank_customers(
    recommender: Recommender,
    customers: Sequence[int | None],
    mode: Mode,
    k: int,
    available: np.ndarray | None = None,
    bought: sp.csr_matrix | None = None,
    threads: int | None = None,
) -> Ranked:
    """Up to k products for each customer of a block (an index of `recommender`, None for an unknown one), no cart.

    `available`: one flag per product (the stock mask). `bought` (customers x products, optional): purchases the
    model has not seen (made after it was trained), which cross-sell leaves out too. `threads`: the rankers'
    threads (a forked worker asks for one).
    """
    check_mode(mode)
    carts: list[list[int]] = [[] for _ in customers]
    return rank(recommender.reranker, recommender.lookups, customers, carts, mode, k, available, bought, None, threads)


def recommend_batch(
    recommender: Recommender,
    customer_ids: Sequence[str] | None,
    mode: Mode,
    k: int,
    available: np.ndarray | None = None,
    progress: Callable[[str], None] = log.info,
) -> pd.DataFrame:
    """customer_id, rank, product_id, score, reason for every known customer (or the ones given), `BLOCK` at a time."""
    check_mode(mode)
    x = recommender.reranker.interactions
    chosen = list(x.customer_ids) if customer_ids is None else [str(c) for c in customer_ids]
    product_ids = np.array(recommender.product_ids, dtype=object)
    parts = []
    for start in range(0, len(chosen), BLOCK):
        ids = chosen[start : start + BLOCK]
        ranked = rank_customers(recommender, [x.customer_index.get(c) for c in ids], mode, k, available)
        listed = ranked.items != NONE
        rows, slots = np.nonzero(listed)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": np.array(ids, dtype=object)[rows],
                    "rank": slots + 1,
                    "product_id": product_ids[ranked.items[rows, slots]],
                    "score": [round(s, 6) for s in ranked.scores[rows, slots].tolist()],
                    "reason": [r for reasons in ranked.reasons for r in reasons],
                }
            )
        )
        progress(f"recommended for {min(start + BLOCK, len(chosen))}/{len(chosen)} customers")
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True)[COLUMNS]


def recommend_customers(
    recommender: Recommender,
    version: str,
    tx: pd.DataFrame,
    as_of: pd.Timestamp,
    mode: Mode,
    k: int,
    progress: Callable[[str], None] = log.info,
) -> pd.DataFrame:
    """customer_id, rank, product_id, score, reason for every customer who bought before `as_of`.

    A model that learnt from data on or after `as_of` is refused.
    """
    if recommender.as_of > as_of:
        raise ValueError(
            f"{MODEL_NAME} v{version} learnt from data up to {recommender.as_of:%Y-%m-%d}, after --as-of "
            f"{as_of:%Y-%m-%d}: train one with --as-of {as_of:%Y-%m-%d} or pass a later date"
        )
    bought = tx[(tx["ts"] < as_of) & (tx["quantity"] > 0) & tx["customer_id"].notna()]
    customers = sorted(bought["customer_id"].astype(str).unique())
    if not customers:
        raise ValueError(f"no customers are known before {as_of:%Y-%m-%d}")
    unknown = sum(recommender.customer_index(c) is None for c in customers)
    if unknown:
        log.warning("%d customers first bought after the model's data ends: they get popular products", unknown)
    frame = recommend_batch(recommender, customers, mode, k, progress=progress)
    log.info("%s v%s: %d rows for %d customers (%s)", MODEL_NAME, version, len(frame), len(customers), mode)
    return frame
