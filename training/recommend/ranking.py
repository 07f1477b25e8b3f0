"""The answer for a block of (customer, cart) rows: allowed products, the ranked lists, the popular fill and reasons.

One implementation behind a request (`Recommender.recommend`, a block of one row) and a batch (`batch`, blocks of
customers), as array operations over the block:

- allowed: the stock mask (`available`), never a cart product, for cross-sell nothing bought (the model's history
  and any later `bought`), for up-sell only a higher tier than a cart product (else a bought one) of its category;
- ranked: the rankers' allowed candidates (others are never scored: each row is scored on its own), best first,
  ties to the lower index; under a mode's policy (`guard`) a row without a cart blends its whole pool with the
  baseline's list first, then keeps the allowed products;
- filled: a short list gets the most popular allowed products, scored below everything the rankers chose;
- reasons: an upgrade, a complement of the cart or history ("often bought with / after"), a repeat, or popularity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from training.recommend.guard import ModePolicy, guarded
from training.recommend.options import MODES, Mode
from training.recommend.products import NO_CATEGORY, ProductTable
from training.recommend.rerank import Reranker

NONE = -1  # no product: a list shorter than k


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")


@dataclass(frozen=True)
class Lookups:
    """What every answer reads of the product table and popularity, as arrays (a pandas lookup costs more than
    a request's arithmetic)."""

    name: list[str]
    category: list[str]
    category_code: np.ndarray
    tier: np.ndarray
    popular_order: np.ndarray  # product indices, most popular first, ties to the lower index

    @classmethod
    def of(cls, products: ProductTable, popularity: np.ndarray) -> Lookups:
        order = np.lexsort((np.arange(len(popularity)), -popularity))
        frame = products.frame
        names = [str(v) for v in frame["name"]]
        return cls(names, [str(v) for v in frame["category"]], products.category_code, products.tier, order)

    def upgrades(self, anchors: Sequence[int]) -> np.ndarray:
        """Products in the category of an anchor and a higher tier than it (than its category's lowest anchor)."""
        rows = np.zeros(len(anchors), dtype=np.int64)
        return _upgrades(self, rows, np.asarray(anchors, dtype=np.int64), 1)[0]


@dataclass(frozen=True)
class Ranked:
    """Up to k products per row, best first: product indices (NONE after a short list), scores and reasons."""

    items: np.ndarray  # rows x k
    scores: np.ndarray  # rows x k, unrounded (NaN where NONE)
    reasons: list[list[str]]  # per row, one per product

    def row(self, i: int) -> list[tuple[int, float, str]]:
        """(product index, score, reason) of row i's list."""
        found = self.items[i] != NONE
        pairs = zip(self.items[i][found].tolist(), self.scores[i][found].tolist(), self.reasons[i], strict=True)
        return [(int(p), float(s), r) for p, s, r in pairs]


def rank(
    reranker: Reranker,
    lookups: Lookups,
    customers: Sequence[int | None],
    carts: Sequence[Sequence[int]],
    mode: Mode,
    k: int,
    available: np.ndarray | None = None,
    bought: sp.csr_matrix | None = None,
    customer_rows: np.ndarray | None = None,
    threads: int | None = None,
) -> Ranked:
    """Up to k allowed products for each (customer index or None, cart of product indices) row, in one mode.

    `available` (one flag per product) is the stock mask; `bought` (rows x products, optional) purchases the model
    has not seen, which cross-sell leaves out too; `customer_rows` replaces the customers' Feast features (see
    `Reranker.score`); `threads` fixes the rankers' threads (a forked worker must ask for one).
    """
    x = reranker.interactions
    n_rows = len(customers)
    carts = [list(c) for c in carts]
    history = _rows(x.matrix, customers)
    upgraded, every = _anchors(history, carts)
    allowed = _allowed(lookups, history, upgraded, every, mode, available, bought)
    policy: ModePolicy | None = (getattr(reranker, "policy", None) or {}).get(mode)
    guard_rows = np.array([policy is not None and policy.kind != "model" and not c for c in carts], dtype=bool)
    keep = allowed
    if guard_rows.any():  # a guarded row blends its whole pool with the baseline's before the stock filter
        keep = allowed.copy()
        keep[guard_rows] = True
    rows, items, scores = reranker.score(customers, carts, mode == "cross_sell", customer_rows, keep, threads)
    order = np.lexsort((items, -scores, rows))
    rows, items, scores = rows[order], items[order], scores[order]
    bounds = np.searchsorted(rows, np.arange(n_rows + 1))
    top = np.full((n_rows, max(k, 0)), NONE, dtype=np.int64)
    top_scores = np.full(top.shape, np.nan)
    position = np.arange(len(rows)) - bounds[rows]
    take = (position < k) & ~guard_rows[rows]
    top[rows[take], position[take]] = items[take]
    top_scores[rows[take], position[take]] = scores[take]
    if guard_rows.any():
        assert policy is not None
        baseline = getattr(reranker, "baselines", {}).get(policy.baseline)
        for r in np.flatnonzero(guard_rows).tolist():
            start, end = bounds[r], bounds[r + 1]
            pool = list(zip(items[start:end].tolist(), scores[start:end].tolist(), strict=True))
            exclude = set(history.indices[history.indptr[r] : history.indptr[r + 1]].tolist())
            answer = guarded(policy, baseline, customers[r], exclude if mode == "cross_sell" else set(), pool)
            chosen = [(i, s) for i, s in answer if allowed[r, i]][:k]
            top[r, : len(chosen)] = [i for i, _ in chosen]
            top_scores[r, : len(chosen)] = [s for _, s in chosen]
    _fill(lookups, top, top_scores, allowed)
    return Ranked(top, top_scores, _reasons(reranker, lookups, history, upgraded, every, top, mode))


def _rows(matrix: sp.csr_matrix, rows: Sequence[int | None]) -> sp.csr_matrix:
    """`matrix[rows]` with an empty row for None, without scipy's fancy indexing (a request pays microseconds)."""
    index = np.array([r if r is not None else 0 for r in rows], dtype=np.int64)
    known = np.array([r is not None for r in rows], dtype=bool)
    starts = matrix.indptr[index].astype(np.int64)
    lengths = np.where(known, matrix.indptr[index + 1] - starts, 0).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    at = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
    out = sp.csr_matrix((matrix.data[at], matrix.indices[at], indptr), shape=(len(rows), matrix.shape[1]))
    out.eliminate_zeros()
    return out


def _upgrades(lookups: Lookups, rows: np.ndarray, anchors: np.ndarray, n_rows: int) -> np.ndarray:
    """Rows x products: `Lookups.upgrades` of each row's anchors, given as (row, product) pairs."""
    codes, tiers = lookups.category_code, lookups.tier
    lowest = np.full((n_rows, int(codes.max(initial=0)) + 1), np.iinfo(np.int64).max)
    np.minimum.at(lowest, (rows, codes[anchors]), tiers[anchors])
    return np.asarray(tiers[None, :] > lowest[:, codes])


class Anchors(NamedTuple):
    """Per row, the products its answer is explained by, grouped by row (`indptr`), ascending within a row."""

    indptr: np.ndarray
    items: np.ndarray
    kind: np.ndarray  # 1: a cart's product, 2: a bought one

    @classmethod
    def of(cls, rows: np.ndarray, items: np.ndarray, kind: np.ndarray, n_rows: int) -> Anchors:
        order = np.lexsort((items, rows))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))]).astype(np.int64)
        return cls(indptr, items[order], kind[order])


def _anchors(history: sp.csr_matrix, carts: Sequence[Sequence[int]]) -> tuple[Anchors, Anchors]:
    """(a cart's products, else the history's: what up-sell upgrades; every one, the cart's counted as the cart's:
    what the complements are read from)."""
    n_rows, n = history.shape
    hist_r = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(history.indptr))
    hist_i = history.indices.astype(np.int64)
    cart_r = np.repeat(np.arange(n_rows, dtype=np.int64), [len(c) for c in carts])
    cart_i = np.array([p for c in carts for p in c], dtype=np.int64)
    in_cart = np.isin(hist_r * n + hist_i, cart_r * n + cart_i)
    has_cart = np.bincount(cart_r, minlength=n_rows) > 0
    ones, twos = np.ones(len(cart_r), dtype=np.int64), np.full(len(hist_r), 2, dtype=np.int64)
    up = ~has_cart[hist_r]
    upgraded = Anchors.of(np.r_[cart_r, hist_r[up]], np.r_[cart_i, hist_i[up]], np.r_[ones, twos[up]], n_rows)
    every = Anchors.of(
        np.r_[cart_r, hist_r[~in_cart]], np.r_[cart_i, hist_i[~in_cart]], np.r_[ones, twos[~in_cart]], n_rows
    )
    return upgraded, every


def _allowed(
    lookups: Lookups,
    history: sp.csr_matrix,
    upgraded: Anchors,
    every: Anchors,
    mode: Mode,
    available: np.ndarray | None,
    bought: sp.csr_matrix | None,
) -> np.ndarray:
    """Rows x products: what each row may be offered (see the module's docstring)."""
    n_rows, n = history.shape
    allowed = (
        np.ones((n_rows, n), dtype=bool)
        if available is None
        else np.tile(np.asarray(available, dtype=bool), (n_rows, 1))
    )
    cart = every.kind == 1
    allowed[_owners(every)[cart], every.items[cart]] = False
    if mode == "cross_sell":
        allowed[history.nonzero()] = False
        if bought is not None:
            allowed[sp.csr_matrix(bought).nonzero()] = False
    elif mode == "up_sell":
        allowed &= _upgrades(lookups, _owners(upgraded), upgraded.items, n_rows)
    return allowed


def _fill(lookups: Lookups, top: np.ndarray, scores: np.ndarray, allowed: np.ndarray) -> None:
    """Short lists get the most popular allowed products not in them, scored below everything the rankers chose."""
    k = top.shape[1]
    count = (top != NONE).sum(axis=1)
    short = np.flatnonzero(count < k)
    if not len(short):
        return
    order = lookups.popular_order
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    ok = allowed[short][:, order]
    r, c = np.nonzero(top[short] != NONE)
    ok[r, position[top[short][r, c]]] = False
    rank_in_row = np.cumsum(ok, axis=1) - 1
    r, c = np.nonzero(ok & (rank_in_row < (k - count[short])[:, None]))
    floor = np.minimum(np.where(top[short] != NONE, scores[short], np.inf).min(axis=1), 0.0) - 1.0
    extra = rank_in_row[r, c]
    rows = short[r]
    top[rows, count[rows] + extra] = order[c]
    scores[rows, count[rows] + extra] = floor[r] - extra / 1000


def _reasons(
    reranker: Reranker,
    lookups: Lookups,
    history: sp.csr_matrix,
    upgraded: Anchors,
    every: Anchors,
    top: np.ndarray,
    mode: Mode,
) -> list[list[str]]:
    """A short why per listed product, from its row's cart and history (a cart's products count first)."""
    n = history.shape[1]
    pr, slot = np.nonzero(top != NONE)  # row-major: each row's products in list order
    pi = top[pr, slot]
    reasons = np.full(top.shape, "", dtype=object)
    pending = np.ones(len(pr), dtype=bool)
    if mode == "up_sell":  # the first anchor (a cart's product, else a bought one) of a lower tier in the category
        pair, anchor, _ = _expand(upgraded, pr)
        codes, tiers = lookups.category_code, lookups.tier
        below = (codes[anchor] == codes[pi[pair]]) & (tiers[anchor] < tiers[pi[pair]])
        for p, a in _first(pair[below], anchor[below]).items():
            reasons[pr[p], slot[p]] = f"upgrade from {lookups.name[a]}"
            pending[p] = False
    ctx = reranker.context
    for matrix, phrase in ((ctx.similarity, "often bought with"), (ctx.transitions, "often bought after")):
        todo = np.flatnonzero(pending)
        pair, anchor, kind = _expand(every, pr[todo])
        values = pair_values(matrix, anchor, pi[todo][pair])
        positive = values > 0
        priority = anchor + np.where(kind == 1, 0, n)  # the cart's products first, then the history's
        for j, a in _first(pair[positive], anchor[positive], -values[positive], priority[positive]).items():
            p = todo[j]
            reasons[pr[p], slot[p]] = f"{phrase} {lookups.name[a]}"
            pending[p] = False
    todo = np.flatnonzero(pending)
    times = pair_values(history, pr[todo], pi[todo])
    for p, t in zip(todo.tolist(), times.tolist(), strict=True):
        if t > 0:
            reasons[pr[p], slot[p]] = f"you bought this {int(t)} time{'s' if t > 1 else ''}"
        else:
            category = lookups.category[pi[p]]
            reasons[pr[p], slot[p]] = "popular now" if category == NO_CATEGORY else f"popular in {category}"
    return [[str(reasons[r, s]) for s in range(int(c))] for r, c in enumerate((top != NONE).sum(axis=1))]


def _owners(anchors: Anchors) -> np.ndarray:
    """The row of each anchor."""
    return np.repeat(np.arange(len(anchors.indptr) - 1, dtype=np.int64), np.diff(anchors.indptr))


def _expand(anchors: Anchors, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each given row (one per listed product), its anchors: (position in `rows`, anchor product, its kind)."""
    starts = anchors.indptr[rows].astype(np.int64)
    lengths = (anchors.indptr[rows + 1] - starts).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    pair = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    at = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
    return pair, anchors.items[at], anchors.kind[at]


def _first(pair: np.ndarray, anchor: np.ndarray, *keys: np.ndarray) -> dict[int, int]:
    """Per pair, the anchor that sorts first by `keys` (the first key most significant), then by anchor index."""
    order = np.lexsort((anchor, *reversed(keys), pair))
    found, at = np.unique(pair[order], return_index=True)
    return dict(zip(found.tolist(), anchor[order[at]].tolist(), strict=True))


def pair_values(
    matrix: sp.csr_matrix, rows: Sequence[int] | np.ndarray, columns: Sequence[int] | np.ndarray
) -> np.ndarray:
    """`matrix[rows[i], columns[i]]` for every i, by a binary search of each row's sorted columns (a few entries
    of a large matrix cost microseconds, not its size)."""
    r = np.asarray(rows, dtype=np.int64)
    wanted = np.asarray(columns, dtype=np.int64)
    if not len(r):
        return np.zeros(0, dtype=matrix.dtype)
    if not matrix.has_canonical_format:
        return np.asarray(matrix[r, wanted]).ravel().astype(matrix.dtype)
    lo = matrix.indptr[r].astype(np.int64)
    hi = matrix.indptr[r + 1].astype(np.int64)
    end = hi.copy()
    while True:  # the first stored position whose column is >= the wanted one
        open_ = lo < hi
        if not open_.any():
            break
        mid = (lo + hi) // 2
        go_right = open_ & (matrix.indices[np.minimum(mid, len(matrix.indices) - 1)] < wanted)
        lo = np.where(go_right, mid + 1, lo)
        hi = np.where(open_ & ~go_right, mid, hi)
    found = lo < end
    found[found] = matrix.indices[lo[found]] == wanted[found]
    out = np.zeros(len(wanted), dtype=matrix.dtype)
    out[found] = matrix.data[lo[found]]
    return out


def entries(matrix: sp.csr_matrix, rows: Sequence[int], columns: Sequence[int]) -> np.ndarray:
    """`matrix[rows][:, columns].toarray()` without building the sub-matrices (see `pair_values`)."""
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(columns, dtype=np.int64)
    if not len(r) or not len(c):
        return np.zeros((len(r), len(c)), dtype=matrix.dtype)
    return pair_values(matrix, np.repeat(r, len(c)), np.tile(c, len(r))).reshape(len(r), len(c))
