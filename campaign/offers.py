"""Each customer's top cross-sell or up-sell product in stock, for a whole customer base at once.

`Recommender.recommend` answers one request: candidates, the ranker, then per customer the allowed products
(stock, mode), the pick and its reason in Python. For a campaign the same answer is computed a block of
customers at a time: the reranker's own batched candidate frame and ranker, then the pick (best ranked allowed
product, ties to the lower index, else the most popular allowed one at score -1) and the reason as array
operations over the block. `test_campaign` checks it against `Recommender.recommend` customer by customer.

A mode whose recorded policy blends with or falls back to a baseline (`guard`) is answered per customer through
the recommender's own guarded path (slower, same answer).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from training.recommend.frames import with_side
from training.recommend.pair_features import candidate_frame
from training.recommend.products import NO_CATEGORY
from training.recommend.recommender import Mode, Recommender

log = logging.getLogger(__name__)
OfferMode = Mode
NONE = -1  # no product: nothing allowed in stock for this customer in this mode


@dataclass(frozen=True)
class Picks:
    """One product (index into `Recommender.product_ids`, or NONE) per customer of a block, score and reason."""

    items: np.ndarray
    scores: np.ndarray
    reasons: list[str]


def _blocked_history(rec: Recommender, index: np.ndarray, known: np.ndarray) -> sp.csr_matrix:
    history = sp.csr_matrix(rec.reranker.interactions.matrix[index])
    history = sp.csr_matrix(sp.diags(known.astype(np.float32)) @ history)
    history.eliminate_zeros()
    return history  # order counts: `_reasons` reads "bought N times" from it


def _allowed(
    rec: Recommender, history: sp.csr_matrix, mode: Mode, available: np.ndarray | None, bought: sp.csr_matrix | None
) -> np.ndarray:
    """Block x products: what `Recommender._allowed` allows each customer with an empty cart (and, for
    cross-sell, none of `bought` either)."""
    n_rows, n = history.shape
    allowed = (
        np.ones((n_rows, n), dtype=bool) if available is None else np.tile(np.asarray(available, bool), (n_rows, 1))
    )
    if mode == "cross_sell":
        allowed &= history.toarray() == 0
        if bought is not None:
            allowed &= bought.toarray() == 0
    elif mode == "up_sell":
        codes, tiers = rec._lookup.category_code, rec._lookup.tier
        lowest = np.full((n_rows, int(codes.max(initial=0)) + 1), np.iinfo(np.int64).max)
        r, p = history.nonzero()
        np.minimum.at(lowest, (r, codes[p]), tiers[p])
        allowed &= tiers[None, :] > lowest[:, codes]
    return allowed


def _first_per_row(rows: np.ndarray, order: np.ndarray, n_rows: int) -> np.ndarray:
    """The first position of `order` for each row (NONE where a row has none)."""
    out = np.full(n_rows, NONE, dtype=np.int64)
    found, first = np.unique(rows[order], return_index=True)
    out[found] = order[first]
    return out


def _ranked_picks(
    rec: Recommender, customers: Sequence[int | None], mode: Mode, allowed: np.ndarray, threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """The best-ranked allowed candidate of each customer: (product index or NONE, ranker score)."""
    new_only = mode == "cross_sell"
    carts: list[list[int]] = [[] for _ in customers]
    rows, items, features = candidate_frame(rec.reranker.context, customers, carts, new_only)
    keep = allowed[rows, items]  # rows are scored independently: a product that cannot be offered needs no score
    rows, items = rows[keep], items[keep]
    features = with_side(features[keep], rec.reranker.side, rows, items, customers, carts)
    booster = rec.reranker.models[(new_only, False)].booster_
    scores = np.asarray(booster.predict(features, num_threads=threads), dtype=np.float64)
    order = np.lexsort((items, -scores, rows))
    first = _first_per_row(rows, order, len(customers))
    hit = first != NONE
    picked = np.where(hit, items[np.where(hit, first, 0)], NONE)
    return picked, np.where(hit, scores[np.where(hit, first, 0)], np.nan)


def _popular_fill(rec: Recommender, picked: np.ndarray, scores: np.ndarray, allowed: np.ndarray) -> None:
    """Rows without a ranked pick get the most popular allowed product at score -1, as `_finish` fills lists."""
    empty = np.flatnonzero(picked == NONE)
    if not len(empty):
        return
    order = rec._lookup.popular_order
    ok = allowed[empty][:, order]
    has = ok.any(axis=1)
    chosen = order[ok.argmax(axis=1)]
    picked[empty[has]] = chosen[has]
    scores[empty[has]] = -1.0


def _guarded_picks(
    rec: Recommender, customers: Sequence[int | None], mode: Mode, allowed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The recommender's own per-customer path, for a mode whose policy is not the model alone."""
    new_only = mode == "cross_sell"
    # `recommend_many` ranks a batch on several threads from 20,000 candidate rows on; a forked worker must stay
    # on one (see `build.Scorer.score`), so ask for few enough customers at a time to stay below that
    per_customer = min(rec.n_pool, sum(rec.reranker.context.proposals.values()))
    step = max(1, 19_999 // max(per_customer, 1))
    pools = [
        pool
        for start in range(0, len(customers), step)
        for pool in rec.reranker.recommend_many(list(customers[start : start + step]), None, rec.n_pool, new_only)
    ]
    picked, scores = np.full(len(customers), NONE, dtype=np.int64), np.full(len(customers), np.nan)
    index = rec.reranker.interactions.product_index
    for row, (customer, pool) in enumerate(zip(customers, pools, strict=True)):
        items = rec._finish(customer, [], rec._guarded(mode, customer, [], pool), mode, 1, allowed[row])
        if items:
            picked[row], scores[row] = index[items[0].product_id], items[0].score
    return picked, scores


def _strongest(matrix: sp.csr_matrix, history: sp.csr_matrix, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Per given row, the history product with the largest positive `matrix[product, item]` (lowest index on ties),
    or NONE: the anchor behind "often bought with / after"."""
    out = np.full(len(rows), NONE, dtype=np.int64)
    if not len(rows):
        return out
    column = sp.csc_matrix(matrix)[:, items].T.tocsr()  # one row per given row: matrix[:, item]
    anchors = sp.csr_matrix(history[rows])
    anchors.data[:] = 1.0  # which products were bought, not how often
    pairs = anchors.multiply(column).tocoo()
    keep = pairs.data > 0
    r, c, v = pairs.row[keep], pairs.col[keep], pairs.data[keep]
    order = np.lexsort((c, -v, r))
    found, first = np.unique(r[order], return_index=True)
    out[found] = c[order[first]]
    return out


def _reasons(rec: Recommender, history: sp.csr_matrix, picked: np.ndarray, mode: Mode) -> list[str]:
    """`Recommender._reasons` for one product per customer, computed for the whole block."""
    look = rec._lookup
    ctx = rec.reranker.context
    reasons = [""] * len(picked)
    rows = np.flatnonzero(picked != NONE)
    items = picked[rows]
    pending = np.ones(len(rows), dtype=bool)
    if mode == "up_sell":
        codes, tiers = look.category_code, look.tier
        h = history[rows].tocoo()
        below = (codes[h.col] == codes[items[h.row]]) & (tiers[h.col] < tiers[items[h.row]])
        r, c = h.row[below], h.col[below]
        order = np.lexsort((c, r))
        found, first = np.unique(r[order], return_index=True)
        for j, anchor in zip(found, c[order[first]], strict=True):
            reasons[rows[j]] = f"upgrade from {look.name[anchor]}"
            pending[j] = False
    for matrix, phrase in ((ctx.similarity, "often bought with"), (ctx.transitions, "often bought after")):
        todo = np.flatnonzero(pending)
        anchors = _strongest(matrix, history, rows[todo], items[todo])
        for j, anchor in zip(todo, anchors, strict=True):
            if anchor != NONE:
                reasons[rows[j]] = f"{phrase} {look.name[anchor]}"
                pending[j] = False
    todo = np.flatnonzero(pending)
    times = np.asarray(history[rows[todo], items[todo]]).ravel() if len(todo) else np.zeros(0)
    for j, n in zip(todo, times, strict=True):
        if n > 0:
            reasons[rows[j]] = f"you bought this {int(n)} time{'s' if n > 1 else ''}"
        else:
            category = look.category[items[j]]
            reasons[rows[j]] = "popular now" if category == NO_CATEGORY else f"popular in {category}"
    return reasons


def top_offers(
    rec: Recommender,
    customers: Sequence[int | None],
    mode: Mode,
    available: np.ndarray | None,
    bought: sp.csr_matrix | None = None,
    threads: int = 1,
) -> Picks:
    """The first item of `rec.recommend(customer, [], mode, 1, available)` for each customer (index or None).

    `bought` (customers x `rec.product_ids`, optional): purchases the model may not have seen (made after it was
    trained), which cross-sell leaves out too, as the offers endpoint does with the online store's list.
    """
    index = np.array([c if c is not None else 0 for c in customers], dtype=np.int64)
    known = np.array([c is not None for c in customers])
    history = _blocked_history(rec, index, known)
    allowed = _allowed(rec, history, mode, available, bought)
    policy = rec.policy.get(mode)
    if policy is not None and policy.kind != "model":
        picked, scores = _guarded_picks(rec, customers, mode, allowed)
    else:
        picked, scores = _ranked_picks(rec, customers, mode, allowed, threads)
        _popular_fill(rec, picked, scores, allowed)
    return Picks(picked, np.round(scores, 6), _reasons(rec, history, picked, mode))
