"""The product answer: modes, stock filtering, guest carts and a reason for every recommendation.

The reranker orders candidates; this layer applies the model's per-mode policy (model, blend with a baseline, or
the baseline first: see `guard`), decides which products are allowed (mode, cart, stock), fills short lists with
popular allowed products, and says why each product is there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.recommend.candidates import Scored
from training.recommend.guard import ModePolicy, guarded, policy_params
from training.recommend.products import NO_CATEGORY, ProductTable
from training.recommend.rerank import Reranker

log = logging.getLogger(__name__)

Mode = Literal["all", "cross_sell", "up_sell"]
MODES: tuple[str, ...] = get_args(Mode)
POPULAR_HALF_LIFE_DAYS = 30.0


class UnknownProducts(ValueError):
    """Cart products the catalogue does not know; `product_ids` names them."""

    def __init__(self, product_ids: list[str]) -> None:
        self.product_ids = product_ids
        super().__init__(f"unknown products in the cart: {', '.join(product_ids)}")


@dataclass(frozen=True)
class Item:
    product_id: str
    score: float
    reason: str


@dataclass(frozen=True)
class Recommendation:
    items: list[Item]
    customer_known: bool
    note: str = ""


@dataclass
class Recommender:
    """Reranker + product table + popularity: everything a request needs, held in memory."""

    reranker: Reranker
    products: ProductTable
    catalogue: frozenset[str]  # every product id the shop knows, bought or not
    popularity: np.ndarray  # recency-weighted orders per product index

    @classmethod
    def build(cls, reranker: Reranker, products: ProductTable, catalogue: Sequence[str] = ()) -> Recommender:
        x = reranker.interactions
        if products.product_ids != list(x.product_ids):
            raise ValueError("the product table must follow the reranker's product order")
        popularity = np.asarray(x.customer_items(POPULAR_HALF_LIFE_DAYS).sum(axis=0), dtype=np.float64).ravel()
        return cls(reranker, products, frozenset(catalogue) | frozenset(x.product_ids), popularity)

    @property
    def as_of(self) -> pd.Timestamp:
        return self.reranker.context.as_of

    @property
    def product_ids(self) -> tuple[str, ...]:
        return self.reranker.interactions.product_ids

    @property
    def policy(self) -> dict[str, ModePolicy]:
        """Per judged mode (`all`, `cross_sell`): model, blend or fallback, and the inner figures behind it.

        Empty for a model fitted without an inner validation (or pickled before there was one): the model answers.
        """
        return dict(getattr(self.reranker, "policy", None) or {})

    def policy_params(self) -> dict[str, str | float | int]:
        """The policy as flat `policy_<mode>_<field>` params for MLflow."""
        return policy_params(self.policy)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The columns the rankers were trained with, in order (see `schema.check_features`)."""
        recorded = getattr(self.reranker, "feature_names", ())
        return tuple(recorded) or tuple(self.reranker.models[(False, False)].booster_.feature_name())

    @property
    def customer_feature_names(self) -> tuple[str, ...]:
        """The Feast customer features a request may pass (`customer_features`); none without side features."""
        side = self.reranker.side
        return () if side is None else tuple(side.customer_names)

    def customer_index(self, customer_id: str | None) -> int | None:
        if customer_id is None:
            return None
        return self.reranker.interactions.customer_index.get(str(customer_id))

    def cart_indices(self, cart: Sequence[str]) -> list[int]:
        """Indices of the cart's products; raises `UnknownProducts` naming any the catalogue lacks.

        Known products nobody has bought yet carry no signal and are left out of the scoring.
        """
        unknown = [str(p) for p in cart if str(p) not in self.catalogue]
        if unknown:
            raise UnknownProducts(sorted(set(unknown)))
        index = self.reranker.interactions.product_index
        return sorted({index[str(p)] for p in cart if str(p) in index})

    def recommend(
        self,
        customer_id: str | None,
        cart: Sequence[str] = (),
        mode: Mode = "all",
        k: int = 10,
        available: np.ndarray | None = None,
        customer_features: Mapping[str, float | None] | None = None,
    ) -> Recommendation:
        """Up to k products for a customer (or a guest) and cart in one mode, only `available` ones if given.

        `customer_features` ({Feast feature name: value}, names from `customer_feature_names`; a missing or None
        one is NaN) replaces the values held since training. A name the model does not read is a ValueError.
        """
        _check_mode(mode)
        cart_idx = self.cart_indices(cart)
        customer = self.customer_index(customer_id)
        rows = self._customer_rows(customer_features)
        pool = self.reranker.recommend_many([customer], [cart_idx], self.n_pool, mode == "cross_sell", rows)[0]
        pool = self._guarded(mode, customer, cart_idx, pool)
        items = self._finish(customer, cart_idx, pool, mode, k, available)
        note = _note(customer_id, customer, cart_idx)
        if not items and mode == "up_sell":
            note = "nothing to upgrade: no higher tier in stock in the categories of the cart or purchase history"
        return Recommendation(items, customer is not None, note)

    @property
    def n_pool(self) -> int:
        return self.reranker.interactions.n_products

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_lookups", None)  # rebuilt on first use: derived, never worth pickling
        return state

    @property
    def _lookup(self) -> _Lookups:
        found = self.__dict__.get("_lookups")
        if found is None:
            found = self.__dict__["_lookups"] = _Lookups.of(self)
        return found

    def recommend_batch(
        self, mode: Mode, k: int, customer_ids: Sequence[str] | None = None, progress: Callable[[str], None] = log.info
    ) -> pd.DataFrame:
        """customer_id, rank, product_id, score, reason for every known customer (or the ones given)."""
        _check_mode(mode)
        x = self.reranker.interactions
        chosen = list(x.customer_ids) if customer_ids is None else [str(c) for c in customer_ids]
        indices = [x.customer_index.get(c) for c in chosen]
        rows: list[tuple[str, int, str, float, str]] = []
        step = 2000
        for start in range(0, len(chosen), step):
            part = indices[start : start + step]
            pools = self.reranker.recommend_many(part, None, self.n_pool, mode == "cross_sell")
            for offset, (customer, pool) in enumerate(zip(part, pools, strict=True)):
                items = self._finish(customer, [], self._guarded(mode, customer, [], pool), mode, k, None)
                rows += [(chosen[start + offset], r, i.product_id, i.score, i.reason) for r, i in enumerate(items, 1)]
            progress(f"recommended for {min(start + step, len(chosen))}/{len(chosen)} customers")
        return pd.DataFrame(rows, columns=["customer_id", "rank", "product_id", "score", "reason"])

    def _customer_rows(self, features: Mapping[str, float | None] | None) -> np.ndarray | None:
        if features is None:
            return None
        if not isinstance(features, Mapping):
            raise TypeError("customer_features is a mapping {Feast feature name: value}, not a positional array")
        side = self.reranker.side
        if side is None:  # a model without side features reads none
            if features:
                raise ValueError(f"unknown customer features: {', '.join(sorted(map(str, features)))} (none read)")
            return None
        return side.customer_row(features).reshape(1, -1)

    def _guarded(self, mode: Mode, customer: int | None, cart: list[int], pool: Scored) -> Scored:
        """The pool under the mode's policy; a cart keeps the rankers' order (the validation judged no carts)."""
        policy = self.policy.get(mode)
        if cart or policy is None or policy.kind == "model":
            return pool
        baseline = getattr(self.reranker, "baselines", {}).get(policy.baseline)
        exclude = set(self._history(customer).tolist()) if mode == "cross_sell" else set()
        return guarded(policy, baseline, customer, exclude, pool)

    def _allowed(self, customer: int | None, cart: list[int], mode: Mode, available: np.ndarray | None) -> np.ndarray:
        n = self.n_pool
        allowed = np.ones(n, dtype=bool) if available is None else np.asarray(available, dtype=bool).copy()
        allowed[cart] = False
        history = self._history(customer)
        if mode == "cross_sell":
            allowed[history] = False
        elif mode == "up_sell":
            allowed &= self._upgrades(cart or history.tolist())
        return allowed

    def _history(self, customer: int | None) -> np.ndarray:
        if customer is None:
            return np.zeros(0, dtype=np.int64)
        return self.reranker.interactions.history(customer).astype(np.int64)

    def _upgrades(self, anchors: Sequence[int]) -> np.ndarray:
        """Products in the category of an anchor and a higher tier than it (than its category's lowest anchor)."""
        codes, tiers = self._lookup.category_code, self._lookup.tier
        lowest = np.full(int(codes.max(initial=0)) + 1, np.iinfo(np.int64).max)
        chosen = np.asarray(anchors, dtype=np.int64)
        np.minimum.at(lowest, codes[chosen], tiers[chosen])
        return tiers > lowest[codes]

    def _finish(
        self,
        customer: int | None,
        cart: list[int],
        pool: list[tuple[int, float]],
        mode: Mode,
        k: int,
        available: np.ndarray | None,
    ) -> list[Item]:
        allowed = self._allowed(customer, cart, mode, available)
        chosen = [(i, s) for i, s in pool if allowed[i]][:k]
        if len(chosen) < k:  # fill with popular allowed products, scored below everything the ranker chose
            taken = np.array([i for i, _ in chosen], dtype=np.int64)
            floor = min([s for _, s in chosen] + [0.0]) - 1.0
            order = self._lookup.popular_order
            order = order[allowed[order]]
            extra = order[~np.isin(order, taken)][: k - len(chosen)].tolist()
            chosen += [(i, floor - rank / 1000) for rank, i in enumerate(extra)]
        reasons = self._reasons([i for i, _ in chosen], customer, cart, mode)
        return [Item(self.product_ids[i], round(s, 6), r) for (i, s), r in zip(chosen, reasons, strict=True)]

    def _reasons(self, items: list[int], customer: int | None, cart: list[int], mode: Mode) -> list[str]:
        """A short why per product: an upgrade, a complement of the cart or history, a repeat, or popularity."""
        if not items:
            return []
        ctx, names, categories = self.reranker.context, self._lookup.name, self._lookup.category
        history = self._history(customer)
        anchors = list(cart) + [h for h in history.tolist() if h not in set(cart)]
        together = entries(ctx.similarity, anchors, items)
        after = entries(ctx.transitions, anchors, items)
        bought = entries(self.reranker.interactions.matrix, [customer], items)[0] if customer is not None else None
        out = []
        for j, item in enumerate(items):
            if mode == "up_sell":
                anchor = self._upgraded_from(item, cart or history.tolist())
                if anchor is not None:
                    out.append(f"upgrade from {names[anchor]}")
                    continue
            if len(anchors) and together[:, j].max() > 0:
                out.append(f"often bought with {names[anchors[int(together[:, j].argmax())]]}")
            elif len(anchors) and after[:, j].max() > 0:
                out.append(f"often bought after {names[anchors[int(after[:, j].argmax())]]}")
            elif bought is not None and bought[j] > 0:
                out.append(f"you bought this {int(bought[j])} time{'s' if bought[j] > 1 else ''}")
            else:
                category = categories[item]
                out.append("popular now" if category == NO_CATEGORY else f"popular in {category}")
        return out

    def _upgraded_from(self, item: int, anchors: Sequence[int]) -> int | None:
        codes, tiers = self._lookup.category_code, self._lookup.tier
        chosen = np.asarray(anchors, dtype=np.int64)
        below = np.flatnonzero((codes[chosen] == codes[item]) & (tiers[chosen] < tiers[item]))
        return int(chosen[below[0]]) if len(below) else None


@dataclass(frozen=True)
class _Lookups:
    """What every request reads of the product table and popularity, as arrays (a pandas lookup costs more than
    the request's arithmetic)."""

    name: list[str]
    category: list[str]
    category_code: np.ndarray
    tier: np.ndarray
    popular_order: np.ndarray  # product indices, most popular first, ties to the lower index

    @classmethod
    def of(cls, recommender: Recommender) -> _Lookups:
        products = recommender.products
        order = np.lexsort((np.arange(len(recommender.popularity)), -recommender.popularity))
        frame = products.frame
        names = [str(v) for v in frame["name"]]
        return cls(names, [str(v) for v in frame["category"]], products.category_code, products.tier, order)


def entries(matrix: sp.csr_matrix, rows: Sequence[int], columns: Sequence[int]) -> np.ndarray:
    """`matrix[rows][:, columns].toarray()` without building the sub-matrices: a binary search of each row's
    sorted columns, all (row, column) pairs at once (a few rows of a large matrix cost microseconds, not its size).
    """
    r = np.asarray(rows, dtype=np.int64)
    c = np.asarray(columns, dtype=np.int64)
    if not len(r) or not len(c):
        return np.zeros((len(r), len(c)), dtype=matrix.dtype)
    if not matrix.has_canonical_format:
        return np.asarray(matrix[r][:, c].toarray())
    lo = np.repeat(matrix.indptr[r].astype(np.int64), len(c))
    hi = np.repeat(matrix.indptr[r + 1].astype(np.int64), len(c))
    end = hi.copy()
    wanted = np.tile(c, len(r))
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
    return out.reshape(len(r), len(c))


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {', '.join(MODES)}")


def _note(customer_id: str | None, customer: int | None, cart: list[int]) -> str:
    if customer_id is not None and customer is None:
        source = "the cart and popularity" if cart else "popularity"
        return f"unknown customer {customer_id}: recommendations from {source}"
    if customer is None:
        return "guest: recommendations from the cart" if cart else "no customer or cart: popular products"
    return ""
