"""`candidate_frame`: the candidates of a batch of (customer, cart) rows and their features, computed densely.

Scores are computed for a batch of customers at a time: each source's score and rank for every candidate, whichever
source proposed it, so the ranker sees e.g. the ALS score of a repeat candidate too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from training.recommend.candidates import CandidateSource, CoPurchase, FactorSource, Popularity, Repeat
from training.recommend.columns import CUSTOMER_FEATURES, ITEM_FEATURES, Matrix, purchase_names
from training.recommend.pairs.context import MISSING_DAYS, Context

MISSING_RANK = 10_000.0  # rank of a product a source does not score at all
MISSING_SHARE = 2.0  # first bought "before the data began" for a product never bought (shares are at most 1)
PRICE = ITEM_FEATURES.index("item_price")  # log mean unit price


def _cart_rows(carts: Sequence[Sequence[int]], n_items: int) -> sp.csr_matrix:
    rows = [i for i, cart in enumerate(carts) for _ in cart]
    cols = [p for cart in carts for p in cart]
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(carts), n_items))


def dense_scores(
    source: CandidateSource,
    customers: np.ndarray,
    known: np.ndarray,
    carts: Sequence[Sequence[int]],
    n: int,
    cart_rows: sp.csr_matrix | None = None,
) -> np.ndarray:
    """Every product's score from one source for each (customer, cart) row; 0 where it has no opinion.

    The same scores as the source's `candidates` (cart products left out), computed a matrix at a time.
    """
    out = np.zeros((len(customers), n))
    has_cart = np.array([bool(cart) for cart in carts])
    cart_rows = _cart_rows(carts, n) if cart_rows is None else cart_rows
    if isinstance(source, Popularity):
        out[:] = source.scores
        return out
    if isinstance(source, FactorSource):
        fast = np.flatnonzero(known & ~has_cart)
        out[fast] = source.user_factors[customers[fast]] @ source.item_factors.T
        for i in np.flatnonzero(has_cart):
            user = source.user_vector(int(customers[i]) if known[i] else None, list(carts[int(i)]))
            if user is not None:
                out[i] = source.item_factors @ user
    elif isinstance(source, Repeat):
        mine = np.flatnonzero(known)
        out[mine] = source.counts[customers[mine]].toarray()
    elif isinstance(source, CoPurchase):
        history = sp.csr_matrix(sp.diags(known.astype(np.float32)) @ source.history[customers]) * source.history_weight
        seed = sp.csr_matrix(history - history.multiply(cart_rows) + cart_rows)  # a cart product seeds with 1
        out[:] = (seed @ source.similarity).toarray()
    else:
        for row in range(len(customers)):
            customer = int(customers[row]) if known[row] else None
            for item, score in source.candidates(customer, list(carts[row]), n):
                out[row, item] = score
        return out
    cart_r, cart_c = cart_rows.nonzero()
    out[cart_r, cart_c] = 0.0
    if not isinstance(source, FactorSource):
        np.maximum(out, 0.0, out=out)  # like `candidates`: only positive scores count
    return out


def source_ranks(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    """Rank (0 = best) of each product within its row among the unblocked ones it scores; ties to lower index.

    A stable argsort would give this directly but is 4x slower than numpy's vectorised one, which leaves ties in
    any order: so sort once fast, number the runs of equal scores, and sort (run, product) keys, which are unique.
    """
    n = scores.shape[1]
    usable = (scores != 0) & ~blocked
    keyed = np.where(usable, -scores, np.inf)  # ascending: best first, unscored last
    order = np.argsort(keyed, axis=1)
    ordered = np.take_along_axis(keyed, order, axis=1)
    run = np.zeros(scores.shape, dtype=np.int64)
    np.cumsum(ordered[:, 1:] != ordered[:, :-1], axis=1, out=run[:, 1:])
    order = np.sort(run * n + order, axis=1) % n
    ranks = np.empty_like(scores)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(n, dtype=np.float64), scores.shape), 1)
    return np.where(usable, ranks, MISSING_RANK)


def candidate_frame(
    ctx: Context,
    customers: Sequence[int | None],
    carts: Sequence[Sequence[int]],
    new_only: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates and features for a batch: (row within the batch, product index, feature matrix).

    Rows come grouped by batch row, products ascending within a row. Cart products are never candidates,
    nor, with `new_only`, anything the customer bought before.
    """
    x = ctx.interactions
    n = x.n_products
    known = np.array([c is not None for c in customers])
    index = np.array([c if c is not None else 0 for c in customers], dtype=np.int64)
    cart_rows = _cart_rows(carts, n)
    history = x.matrix[index].toarray() * known[:, None]
    blocked = cart_rows.toarray() > 0
    if new_only:
        blocked |= history > 0
    scores = {name: dense_scores(s, index, known, carts, n, cart_rows) for name, s in ctx.sources.items()}
    ranks = {name: source_ranks(s, blocked) for name, s in scores.items()}
    proposed = np.zeros((len(customers), n), dtype=np.int64)
    for name, limit in ctx.proposals.items():
        proposed += ranks[name] < limit
    rows, items = np.nonzero(proposed > 0)

    history_seed = sp.csr_matrix(sp.diags(known.astype(np.float32)) @ x.matrix[index])
    recent_seed = sp.csr_matrix(sp.diags(known.astype(np.float32)) @ ctx.last_basket[index]) + cart_rows
    recent_seed.data[:] = 1.0
    co_history = (history_seed @ ctx.similarity).toarray()
    co_recent = (recent_seed @ ctx.similarity).toarray()
    next_history = (history_seed @ ctx.transitions).toarray()
    next_recent = (recent_seed @ ctx.transitions).toarray()
    last = ctx.last_days[index].toarray() * known[:, None]
    cart_price = np.array([ctx.item_table[list(c), PRICE].mean() if c else np.nan for c in carts])
    own_price = np.log(np.maximum(ctx.customer_price[index], 1e-3))
    customer_price = np.where(known, own_price, cart_price)
    customer_table = ctx.customer_table[index] * known[:, None]

    out = Matrix(purchase_names(ctx.sources), len(rows))
    for name in ctx.sources:  # scores relative to the row's best, so scales carry from the inner fit to the final
        peak = np.maximum(np.abs(scores[name]).max(axis=1), 1e-9)
        out[f"{name}_score"] = scores[name][rows, items] / peak[rows]
        out[f"{name}_rank"] = ranks[name][rows, items]
    out["n_sources"] = proposed[rows, items]
    first = (ctx.first_days[index].toarray() * known[:, None])[rows, items]
    orders = customer_table[rows, CUSTOMER_FEATURES.index("customer_orders")]
    pairs = (co_history, co_recent, next_history, next_recent)
    facts = (history[rows, items], last[rows, items], first, orders, *(p[rows, items] for p in pairs))
    pair_columns(out, ctx.history_days, *facts)
    out["price_ratio"] = ctx.item_table[items, PRICE] - customer_price[rows]
    out.put(ITEM_FEATURES, ctx.item_table[items])
    out.put(CUSTOMER_FEATURES, customer_table[rows])
    return rows, items, out.done()


def pair_columns(
    out: Matrix,
    history_days: float,
    times: np.ndarray,
    days: np.ndarray,
    first: np.ndarray,
    orders: np.ndarray,
    co_history: np.ndarray,
    co_recent: np.ndarray,
    next_history: np.ndarray,
    next_recent: np.ndarray,
) -> None:
    """The pair columns from per-candidate facts: times bought, days since the last and first purchase (+ 1, 0 for
    never), the customer's orders and the co-purchase and next-purchase sums (`candidate_frame`, `request_frame`)."""
    interval = np.where(times > 1, (first - days) / np.maximum(times - 1.0, 1.0), 0.0)
    out["times_bought"] = times
    out["bought_share"] = times / np.maximum(orders, 1.0)
    out["days_since_bought"] = np.where(days > 0, days - 1.0, MISSING_DAYS)
    out["co_history"] = co_history
    out["co_recent"] = co_recent
    out["next_history"] = next_history
    out["next_recent"] = next_recent
    out["first_bought_share"] = np.where(first > 0, (first - 1.0) / history_days, MISSING_SHARE)
    out["due_ratio"] = np.where(interval > 0, (days - 1.0) / np.maximum(interval, 1e-3), -1.0)
