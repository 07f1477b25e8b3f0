"""`request_frame`: `candidate_frame` for one (customer, cart), the same rows and values for a request's budget."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from training.recommend.candidates import CandidateSource, CoPurchase, FactorSource, Popularity, Repeat, one_blas_thread
from training.recommend.columns import CUSTOMER_FEATURES, ITEM_FEATURES, Matrix, purchase_names
from training.recommend.pairs.context import Context
from training.recommend.pairs.frame import MISSING_RANK, PRICE, candidate_frame, pair_columns


def request_frame(
    ctx: Context, customer: int | None, cart: Sequence[int], new_only: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`candidate_frame` for one (customer, cart): the same candidates and feature values, for a request's budget.

    A request pays for what it reads: one customer's rows straight from the sparse arrays, the co-purchase sums of
    all seeds sharing a matrix in one product, each source's proposals by partition and only the candidates'
    ranks (a sort of the scores, not a stable argsort of every product). Every sum runs in the order
    `candidate_frame`'s runs in (seeds in the same order, same dtypes), so the values are the same bit for bit;
    a cart listing a product twice goes through `candidate_frame`.
    """
    if len(set(cart)) != len(cart):
        return candidate_frame(ctx, [customer], [cart], new_only)
    x = ctx.interactions
    n = x.n_products
    known = customer is not None
    index = np.array([customer if customer is not None else 0], dtype=np.int64)
    cart_idx = np.asarray(cart, dtype=np.int64)
    history = dense_row(x.matrix, customer, n)
    blocked = np.zeros(n, dtype=bool)
    blocked[cart_idx] = True
    if new_only:
        blocked |= history > 0
    # seeds of the sparse products, each in the order candidate_frame's seed holds them (see `_seed`)
    bought, counts = _row(x.matrix, customer)
    recent = np.union1d(_row(ctx.last_basket, customer)[0], cart_idx)
    seeds: list[tuple[sp.csr_matrix, np.ndarray, np.ndarray]] = [
        (ctx.similarity, bought[::-1], counts[::-1]),  # co_history: diag @ rows reverses a row's order
        (ctx.similarity, recent, np.ones(len(recent), dtype=np.float32)),  # co_recent
        (ctx.transitions, bought[::-1], counts[::-1]),  # next_history
        (ctx.transitions, recent, np.ones(len(recent), dtype=np.float32)),  # next_recent
    ]
    sourced: dict[str, int] = {}
    for name, source in ctx.sources.items():
        if isinstance(source, CoPurchase):
            sourced[name] = len(seeds)
            seeds.append((source.similarity, *_co_purchase_seed(source, customer, cart_idx)))
    products = _seed_products(seeds, n)
    scores: dict[str, np.ndarray] = {}
    with one_blas_thread().limit(limits=1, user_api="blas"):  # see `_row_scores`
        for name, source in ctx.sources.items():
            if name in sourced:
                scores[name] = products[sourced[name]].astype(np.float64)
            else:
                scores[name] = _row_scores(source, customer, cart_idx, n)
            if isinstance(source, CoPurchase | Repeat | FactorSource):  # as `dense_scores`: others are final
                scores[name][cart_idx] = 0.0
                if not isinstance(source, FactorSource):
                    np.maximum(scores[name], 0.0, out=scores[name])
    keyed = {name: sort_keys(s, blocked) for name, s in scores.items()}
    proposed = np.zeros(n, dtype=np.int64)
    for name, limit in ctx.proposals.items():
        proposed += best_below(keyed[name], limit)
    items = np.flatnonzero(proposed > 0)
    rows = np.zeros(len(items), dtype=np.int64)

    out = Matrix(purchase_names(ctx.sources), len(items))
    for name in ctx.sources:
        peak = np.maximum(np.abs(scores[name][None, :]).max(axis=1), 1e-9)  # as candidate_frame: a row's max
        out[f"{name}_score"] = scores[name][items] / peak[rows]
        out[f"{name}_rank"] = ranks_at(keyed[name], items)
    out["n_sources"] = proposed[items]
    customer_table = ctx.customer_table[index] * known
    last = dense_row(ctx.last_days, customer, n)[items]
    first = dense_row(ctx.first_days, customer, n)[items]
    orders = customer_table[rows, CUSTOMER_FEATURES.index("customer_orders")]
    pair_columns(out, ctx.history_days, history[items], last, first, orders, *(p[items] for p in products[:4]))
    cart_price = np.array([ctx.item_table[list(cart), PRICE].mean() if len(cart) else np.nan])
    own_price = np.log(np.maximum(ctx.customer_price[index], 1e-3))
    customer_price = np.where(known, own_price, cart_price)
    out["price_ratio"] = ctx.item_table[items, PRICE] - customer_price[rows]
    out.put(ITEM_FEATURES, ctx.item_table[items])
    out.put(CUSTOMER_FEATURES, customer_table[rows])
    return rows, items, out.done()


def _row(matrix: sp.csr_matrix, row: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A row's stored (columns, values), in their stored order; nothing for None."""
    if row is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=matrix.dtype)
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return matrix.indices[start:end].astype(np.int64), matrix.data[start:end]


def dense_row(matrix: sp.csr_matrix, row: int | None, n: int) -> np.ndarray:
    """`matrix[row].toarray()[0]` (zeros for None) without building a sparse matrix; duplicates are summed."""
    out = np.zeros(n, dtype=matrix.dtype)
    columns, values = _row(matrix, row)
    if matrix.has_canonical_format:
        out[columns] = values
    else:
        np.add.at(out, columns, values)
    return out


def _co_purchase_seed(source: CoPurchase, customer: int | None, cart: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The seed `dense_scores` builds for a co-purchase source (history weighted, a cart product 1), its order:
    ascending, as the sum of the two canonical rows it is."""
    bought, weights = _row(source.history, customer)
    weights = weights * source.history_weight
    keep = ~np.isin(bought, cart)
    columns = np.concatenate([bought[keep], cart])
    values = np.concatenate([weights[keep], np.ones(len(cart), dtype=weights.dtype)])
    order = np.argsort(columns, kind="stable")
    return columns[order], values[order].astype(np.float32)


def _seed_products(seeds: Sequence[tuple[sp.csr_matrix, np.ndarray, np.ndarray]], n: int) -> list[np.ndarray]:
    """Each seed (matrix, columns, values) times its matrix, as a dense float32 row; one sparse product per matrix.

    scipy sums a product's row in the order its seed lists the columns, so stacked seeds sum as they do alone.
    """
    out: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(seeds)
    groups: dict[int, list[int]] = {}
    for i, (matrix, _, _) in enumerate(seeds):
        groups.setdefault(id(matrix), []).append(i)
    for members in groups.values():
        matrix = seeds[members[0]][0]
        lengths = [len(seeds[i][1]) for i in members]
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        columns = np.concatenate([seeds[i][1] for i in members]).astype(np.int64)
        values = np.concatenate([seeds[i][2] for i in members]).astype(np.float32)
        stacked = sp.csr_matrix((values, columns, indptr), shape=(len(members), n))
        dense = (stacked @ matrix).toarray()
        for row, i in enumerate(members):
            out[i] = dense[row]
    return out


def _row_scores(source: CandidateSource, customer: int | None, cart: np.ndarray, n: int) -> np.ndarray:
    """`dense_scores` for one (customer, cart) row, for the sources that are not co-purchase ones.

    Run it with one BLAS thread: a factor model's product is too small to share, and on a busy machine a second
    thread waits for a core (a request's 0.2 ms became 5 ms, and its p99 far more). One thread also sums in
    another order than `dense_scores`' matrix products on several threads: scores may differ in the last bit.
    """
    out = np.zeros(n)
    if isinstance(source, Popularity):
        out[:] = source.scores
    elif isinstance(source, FactorSource):
        user = source.user_vector(customer, cart.tolist())
        if user is not None:
            out[:] = source.item_factors @ user
    elif isinstance(source, Repeat):
        out[:] = dense_row(source.counts, customer, n)
    else:
        for item, score in source.candidates(customer, cart.tolist(), n):
            out[item] = score
    return out


def sort_keys(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    """Sort keys of `source_ranks`: minus the score where the product is ranked, +inf where it is not."""
    return np.where((scores != 0) & ~blocked, -scores, np.inf)


def best_below(keyed: np.ndarray, limit: int) -> np.ndarray:
    """Mask of the products `source_ranks` puts below `limit`: the `limit` smallest finite keys, ties to the lower
    index."""
    finite = np.isfinite(keyed)
    if int(finite.sum()) <= limit:
        return finite
    kth = np.partition(keyed, limit - 1)[limit - 1]
    below = keyed < kth
    ties = np.flatnonzero(keyed == kth)[: limit - int(below.sum())]
    below[ties] = True
    return below


def ranks_at(keyed: np.ndarray, items: np.ndarray) -> np.ndarray:
    """`source_ranks` of a single row, at `items` only: how many ranked products come first (better, or as good and a
    lower index); MISSING_RANK where the product is not ranked."""
    ranked = np.sort(keyed[np.isfinite(keyed)])
    mine = keyed[items]
    out = np.searchsorted(ranked, mine, side="left").astype(np.float64)
    ties = np.flatnonzero(np.searchsorted(ranked, mine, side="right") - out > 1)
    for value in np.unique(mine[ties]):
        equal = np.flatnonzero(keyed == value)  # ascending product index
        at = ties[mine[ties] == value]
        out[at] += np.searchsorted(equal, items[at])
    out[~np.isfinite(mine)] = MISSING_RANK
    return out
