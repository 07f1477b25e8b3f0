"""Candidate sources: the recommender's first stage, each proposing scored products for a customer and cart.

Every source follows one contract (`CandidateSource`), checked for all of them by one shared test: at most k
product indices, best first, no duplicates, never an excluded product nor one already in the cart. The factor models
use `implicit`'s CPU classes explicitly, so no GPU path is ever tried.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Literal, Protocol, Self, runtime_checkable

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import ThreadpoolController, threadpool_limits

from training.recommend.dataset import Interactions, bm25

Scored = list[tuple[int, float]]
_threadpools: ThreadpoolController | None = None  # found once: looking the libraries up costs milliseconds


def one_blas_thread() -> ThreadpoolController:
    """Small solves run single-threaded: on a busy machine BLAS threads wait on each other (0.5 ms -> 27 ms)."""
    global _threadpools
    if _threadpools is None:
        _threadpools = ThreadpoolController()
    return _threadpools


@runtime_checkable
class CandidateSource(Protocol):
    """Proposes products for a customer (an index from the fitted interactions, or None for a guest) and cart."""

    name: str

    def fit(self, interactions: Interactions) -> Self:
        """Learn from the interactions; returns self so `Source().fit(x)` chains."""
        ...

    def candidates(
        self, customer_index: int | None, cart: list[int], k: int, exclude: set[int] | None = None
    ) -> Scored:
        """Up to k (product index, score) pairs, best first; none excluded, none already in the cart."""
        ...


def top_k(scores: np.ndarray, k: int, blocked: Iterable[int] = (), positive_only: bool = True) -> Scored:
    """The k best (index, score) pairs; ties go to the lower index, so results are deterministic."""
    if k <= 0:
        return []
    eligible = scores > 0 if positive_only else np.isfinite(scores)
    blocked_idx = np.fromiter(blocked, dtype=np.int64)
    if blocked_idx.size:
        eligible[blocked_idx[(blocked_idx >= 0) & (blocked_idx < len(scores))]] = False
    index = np.flatnonzero(eligible)
    values = scores[index]
    if len(index) > k:
        kth = np.partition(values, len(values) - k)[len(values) - k]
        keep = values >= kth
        index, values = index[keep], values[keep]
    order = np.lexsort((index, -values))[:k]
    return [(int(index[i]), float(values[i])) for i in order]


def _blocked(cart: list[int], exclude: set[int] | None) -> set[int]:
    return set(cart) | (exclude or set())


class Popularity:
    """Most bought products, recent orders weighted up (half life in days): the cold-start fallback."""

    name = "popularity"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days
        self.scores = np.zeros(0)

    def fit(self, interactions: Interactions) -> Self:
        counts = interactions.customer_items(self.half_life_days)
        self.scores = np.asarray(counts.sum(axis=0), dtype=np.float64).ravel()
        return self

    def candidates(
        self, customer_index: int | None, cart: list[int], k: int, exclude: set[int] | None = None
    ) -> Scored:
        return top_k(self.scores, k, _blocked(cart, exclude))


class Repeat:
    """The customer's own most-bought products (by orders, optionally recency weighted); nothing for a guest."""

    name = "repeat"

    def __init__(self, half_life_days: float | None = None) -> None:
        self.half_life_days = half_life_days
        self.counts = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, interactions: Interactions) -> Self:
        self.counts = interactions.customer_items(self.half_life_days)
        return self

    def candidates(
        self, customer_index: int | None, cart: list[int], k: int, exclude: set[int] | None = None
    ) -> Scored:
        if customer_index is None:
            return []
        row = self.counts[customer_index].toarray().ravel().astype(np.float64)
        return top_k(row, k, _blocked(cart, exclude))


class CoPurchase:
    """Item-to-item co-occurrence, seeded by the cart and the customer's history.

    `by="order"` counts products bought in the same order (complements in one basket); `by="customer"` counts
    products bought by the same customer at any time (buyers of A later buy B). Counts are normalised by
    cosine (default) or lift, and each product can be limited to its `max_neighbours` strongest partners. Lift
    favours rare products and scores far below cosine on Online Retail; `by="order"` scores above `"customer"`.
    """

    name = "co_purchase"

    def __init__(
        self,
        by: Literal["order", "customer"] = "order",
        normalise: Literal["cosine", "lift"] = "cosine",
        max_neighbours: int | None = None,
        history_weight: float = 0.5,
    ) -> None:
        self.by = by
        self.normalise = normalise
        self.max_neighbours = max_neighbours
        self.history_weight = history_weight
        self.similarity = sp.csr_matrix((0, 0), dtype=np.float32)
        self.history = sp.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, interactions: Interactions) -> Self:
        rows = interactions.baskets if self.by == "order" else interactions.matrix
        binary = sp.csr_matrix((rows > 0).astype(np.float32))
        co = sp.csr_matrix(binary.T @ binary, dtype=np.float64)
        support = co.diagonal()
        co.setdiag(0)
        co.eliminate_zeros()
        coo = co.tocoo()
        if self.normalise == "cosine":
            values = coo.data / np.sqrt(support[coo.row] * support[coo.col])
        else:
            values = coo.data * binary.shape[0] / (support[coo.row] * support[coo.col])
        similarity = sp.csr_matrix((values, (coo.row, coo.col)), shape=co.shape)
        self.similarity = _keep_strongest(similarity, self.max_neighbours).astype(np.float32)
        counts = interactions.matrix
        peak = np.maximum(np.asarray(counts.max(axis=1).todense()).ravel(), 1.0)
        self.history = sp.csr_matrix(sp.diags(1.0 / peak) @ counts, dtype=np.float32)
        return self

    def candidates(
        self, customer_index: int | None, cart: list[int], k: int, exclude: set[int] | None = None
    ) -> Scored:
        n = self.similarity.shape[0]
        seed = np.zeros(n, dtype=np.float32)
        if customer_index is not None:
            row = self.history[customer_index]
            seed[row.indices] = self.history_weight * row.data
        seed[np.asarray(cart, dtype=np.int64)] = 1.0
        if not seed.any():
            return []
        nonzero = np.flatnonzero(seed)
        scores = self.similarity[nonzero].T @ seed[nonzero]
        return top_k(np.asarray(scores, dtype=np.float64).ravel(), k, _blocked(cart, exclude))


def _keep_strongest(similarity: sp.csr_matrix, limit: int | None) -> sp.csr_matrix:
    """Each row keeps its `limit` largest entries (ties to the lower column), which bounds memory and noise."""
    if limit is None:
        return similarity
    similarity.sort_indices()
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i in range(similarity.shape[0]):
        start, end = similarity.indptr[i], similarity.indptr[i + 1]
        kept = top_k(similarity.data[start:end].astype(np.float64), limit)
        idx = similarity.indices[start:end]
        rows.extend([i] * len(kept))
        cols.extend(int(idx[j]) for j, _ in kept)
        vals.extend(v for _, v in kept)
    return sp.csr_matrix((vals, (rows, cols)), shape=similarity.shape)


class Fallback:
    """Sources in order, each filling what the earlier ones left (e.g. repeat, then popular).

    Scores are rank-based (k for the first, down to 1) since the sources' own scores are not comparable.
    """

    def __init__(self, *sources: CandidateSource) -> None:
        self.sources = sources
        self.name = "_then_".join(s.name for s in sources)

    def fit(self, interactions: Interactions) -> Self:
        for source in self.sources:
            source.fit(interactions)
        return self

    def candidates(
        self, customer_index: int | None, cart: list[int], k: int, exclude: set[int] | None = None
    ) -> Scored:
        chosen: list[int] = []
        blocked = _blocked(cart, exclude)
        for source in self.sources:
            if len(chosen) >= k:
                break
            found = source.candidates(customer_index, cart, k - len(chosen), blocked | set(chosen))
            chosen.extend(i for i, _ in found)
        return [(item, float(k - rank)) for rank, item in enumerate(chosen)]


class FactorSource(ABC):
    """Scores every product by user-factor . item-factor; a cart folds into the user vector."""

    name = "factors"

    def __init__(self) -> None:
        self.user_factors = np.zeros((0, 0), dtype=np.float32)
        self.item_factors = np.zeros((0, 0), dtype=np.float32)

    @abstractmethod
    def user_vector(self, customer_index: int | None, cart: list[int]) -> np.ndarray | None:
        """The user vector for a customer and cart, or None when there is nothing to go on."""

    def candidates(
        self, customer_index: int | None, cart: list[int], k: int, exclude: set[int] | None = None
    ) -> Scored:
        user = self.user_vector(customer_index, cart)
        if user is None:
            return []
        scores = self.item_factors @ user
        return top_k(scores.astype(np.float64), k, _blocked(cart, exclude), positive_only=False)


class ImplicitALS(FactorSource):
    """implicit's ALS on BM25-weighted order counts; a cart is folded in by recalculating the user (exact ALS).

    With `half_life_days` each order counts 0.5 ** (age / half life), so recent tastes weigh more.
    """

    name = "als"

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 1.0,
        iterations: int = 15,
        use_bm25: bool = True,
        random_state: int = 0,
        num_threads: int = 2,
        half_life_days: float | None = None,
    ) -> None:
        super().__init__()
        with threadpool_limits(limits=1, user_api="blas"):  # implicit warns on construction otherwise
            self.model = AlternatingLeastSquares(
                factors=factors,
                regularization=regularization,
                alpha=alpha,
                iterations=iterations,
                random_state=random_state,
                num_threads=num_threads,
            )
        self.use_bm25 = use_bm25
        self.half_life_days = half_life_days
        self.weights = sp.csr_matrix((0, 0), dtype=np.float32)
        self.item_weight = np.zeros(0, dtype=np.float32)
        self._yty = np.zeros((0, 0))

    def fit(self, interactions: Interactions) -> Self:
        matrix = interactions.customer_items(self.half_life_days)
        self.weights = bm25(matrix) if self.use_bm25 else sp.csr_matrix(matrix, dtype=np.float32)
        nnz = np.maximum(np.diff(self.weights.tocsc().indptr), 1)
        self.item_weight = (np.asarray(self.weights.sum(axis=0)).ravel() / nnz).astype(np.float32)
        with threadpool_limits(limits=1, user_api="blas"):
            self.model.fit(self.weights, show_progress=False)
        self.user_factors = np.asarray(self.model.user_factors)
        self.item_factors = np.asarray(self.model.item_factors)
        factors = self.item_factors.astype(np.float64)
        self._yty = factors.T @ factors
        return self

    def user_vector(self, customer_index: int | None, cart: list[int]) -> np.ndarray | None:
        if not cart:
            return None if customer_index is None else self.user_factors[customer_index]
        cart_idx = np.unique(np.asarray(cart, dtype=np.int64))
        weights = dict(zip(cart_idx.tolist(), self.item_weight[cart_idx].tolist(), strict=True))
        if customer_index is not None:
            row = self.weights[customer_index]
            for item, value in zip(row.indices.tolist(), row.data.tolist(), strict=True):
                weights[item] = weights.get(item, 0.0) + value
        return self._solve_user(np.fromiter(weights, dtype=np.int64), np.fromiter(weights.values(), dtype=np.float64))

    def _solve_user(self, items: np.ndarray, values: np.ndarray) -> np.ndarray:
        """ALS's exact user solve, (YtY + reg I + Yt (C - I) Y) x = Yt C p, as implicit's recalculate_user.

        Done here with a YtY cached at fit, since implicit recomputes it (and its thread limits) on every call.
        """
        if getattr(self, "_yty", None) is None or self._yty.shape[0] != self.item_factors.shape[1]:
            factors = self.item_factors.astype(np.float64)  # a model pickled before the cache existed
            self._yty = factors.T @ factors
        y = self.item_factors[items].astype(np.float64)
        confidence = self.model.alpha * values
        with one_blas_thread().limit(limits=1, user_api="blas"):
            a = self._yty + self.model.regularization * np.eye(len(self._yty)) + (y.T * (confidence - 1.0)) @ y
            return np.linalg.solve(a, y.T @ confidence).astype(np.float32)


class ImplicitBPR(FactorSource):
    """implicit's BPR on who-bought-what; a cart adds the mean of its item vectors to the user vector.

    One thread by default: BPR's parallel SGD is lock-free, so more threads make fits non-deterministic.
    """

    name = "bpr"

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        random_state: int = 0,
        num_threads: int = 1,
    ) -> None:
        super().__init__()
        self.model = BayesianPersonalizedRanking(
            factors=factors,
            learning_rate=learning_rate,
            regularization=regularization,
            iterations=iterations,
            random_state=random_state,
            num_threads=num_threads,
        )

    def fit(self, interactions: Interactions) -> Self:
        binary = sp.csr_matrix((interactions.matrix > 0).astype(np.float32))
        self.model.fit(binary, show_progress=False)
        self.user_factors = np.asarray(self.model.user_factors)
        self.item_factors = np.asarray(self.model.item_factors)
        return self

    def user_vector(self, customer_index: int | None, cart: list[int]) -> np.ndarray | None:
        # implicit's BPR appends a bias column: items carry their bias, users a constant 1
        if customer_index is None and not cart:
            return None
        width = self.item_factors.shape[1]
        user = np.zeros(width, dtype=np.float32) if customer_index is None else self.user_factors[customer_index]
        user = user.copy()
        if cart:
            user[:-1] += self.item_factors[np.asarray(cart, dtype=np.int64), :-1].mean(axis=0)
        user[-1] = 1.0
        return user
