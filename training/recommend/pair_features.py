"""The reranker's input: candidates merged from several sources, one row per (customer, product) with pair features.

Everything is computed as of one cutoff from the transactions before it, so the same code builds the training
frame (as of an inner cutoff, labels after it) and the prediction frame (as of the end of training). Scores are
computed densely for a batch of customers at a time: each source's score and rank for every candidate, whichever
source proposed it, so the ranker sees e.g. the ALS score of a repeat candidate too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.recommend.candidates import (
    CandidateSource,
    CoPurchase,
    Popularity,
    Repeat,
    _FactorSource,
    _one_blas_thread,
)
from training.recommend.columns import CUSTOMER_FEATURES, ITEM_FEATURES, Matrix, purchase_names
from training.recommend.interactions import Interactions, build_interactions, purchases

MISSING_RANK = 10_000.0  # rank of a product a source does not score at all
MISSING_DAYS = 10_000.0  # days since the customer last bought a product they never bought
MISSING_SHARE = 2.0  # first bought "before the data began" for a product never bought (shares are at most 1)

PRICE = ITEM_FEATURES.index("item_price")  # log mean unit price
QUARTER_DAYS = 91.0


@dataclass
class Context:
    """Fitted sources plus per-customer, per-product and per-pair facts, all as of `as_of`."""

    interactions: Interactions
    sources: dict[str, CandidateSource]
    proposals: dict[str, int]
    as_of: pd.Timestamp
    customer_table: np.ndarray
    item_table: np.ndarray
    last_days: sp.csr_matrix
    first_days: sp.csr_matrix
    last_basket: sp.csr_matrix
    customer_price: np.ndarray
    history_days: float  # from the first transaction to `as_of`: ages are shares of it (see `build_context`)
    similarity: sp.csr_matrix = field(repr=False)
    transitions: sp.csr_matrix = field(repr=False)

    @property
    def feature_names(self) -> list[str]:
        """The columns of `candidate_frame` (see `schema.purchase_names`)."""
        return list(purchase_names(self.sources))


def build_context(
    tx: pd.DataFrame,
    sources: dict[str, CandidateSource],
    proposals: dict[str, int],
    as_of: pd.Timestamp,
    recent_days: float = 30.0,
) -> Context:
    """Fit every source on the transactions before `as_of` and tabulate the facts the features need."""
    tx = tx[tx["ts"] < as_of]
    interactions = build_interactions(tx)
    for source in sources.values():
        source.fit(interactions)
    lines = purchases(tx)
    lines["c"] = lines["customer_id"].map(interactions.customer_index).to_numpy()
    lines["p"] = lines["product_id"].map(interactions.product_index).to_numpy()
    days = ((as_of - lines["ts"]) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    lines["days"] = days
    # An age is censored by the start of the data, so in days it grows with every later cutoff and the ranker,
    # trained at earlier cutoffs, would see larger ages at prediction than it ever learnt from. As a share of the
    # history it keeps one scale (1 = since the data began): better on the inner validation split (train before
    # 2011-07-01) as on the protocol benchmark.
    history_days = max(float(days.max()), 1.0) if len(days) else 1.0
    item_price, customer_price = _prices(tx, interactions)
    co_order = next((s for s in sources.values() if isinstance(s, CoPurchase) and s.by == "order"), None)
    similarity = co_order.similarity if co_order is not None else CoPurchase().fit(interactions).similarity
    return Context(
        interactions=interactions,
        sources=sources,
        proposals=proposals,
        as_of=as_of,
        customer_table=_customer_table(lines, interactions.n_customers, history_days),
        item_table=_item_table(lines, interactions.n_products, recent_days, item_price, history_days),
        last_days=_last_days(lines, interactions),
        first_days=_last_days(lines, interactions, first=True),
        last_basket=_last_basket(interactions),
        customer_price=customer_price,
        history_days=history_days,
        similarity=similarity,
        transitions=_transitions(interactions),
    )


def _prices(tx: pd.DataFrame, interactions: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """Mean unit price per product and mean unit price paid per customer (global mean where unknown)."""
    n_items, n_customers = interactions.n_products, interactions.n_customers
    if "unit_price" not in tx.columns:
        return np.ones(n_items), np.ones(n_customers)
    paid = tx[tx["customer_id"].notna() & (tx["quantity"] > 0) & (tx["unit_price"] > 0)]
    overall = float(paid["unit_price"].mean()) if len(paid) else 1.0
    by_item = paid.groupby(paid["product_id"].astype(str))["unit_price"].mean()
    by_customer = paid.groupby(paid["customer_id"].astype(str))["unit_price"].mean()
    item = by_item.reindex(list(interactions.product_ids)).fillna(overall).to_numpy(dtype=np.float64)
    customer = by_customer.reindex(list(interactions.customer_ids)).fillna(overall).to_numpy(dtype=np.float64)
    return item, customer


def _customer_table(lines: pd.DataFrame, n_customers: int, history_days: float) -> np.ndarray:
    """One row per customer, CUSTOMER_FEATURES columns (float64: derived features divide by them)."""
    grouped = lines.groupby("c")

    def per_customer(values: pd.Series, fill: float = 0.0) -> np.ndarray:
        out = np.full(n_customers, fill)
        out[values.index.to_numpy(dtype=np.int64)] = values.to_numpy()
        return out

    orders = per_customer(grouped["order_id"].nunique())
    products = per_customer(grouped["p"].nunique())
    recency = per_customer(grouped["days"].min())
    tenure = per_customer(grouped["days"].max())
    pairs = per_customer(lines.drop_duplicates(["c", "p", "order_id"]).groupby("c").size())
    table = Matrix(CUSTOMER_FEATURES, n_customers, np.float64)
    table["customer_orders"] = orders
    table["customer_products"] = products
    table["customer_recency_days"] = recency
    table["customer_tenure_share"] = tenure / history_days
    quarter = lines[lines["days"] <= QUARTER_DAYS].groupby("c")["order_id"].nunique()
    table["customer_orders_quarter"] = per_customer(quarter)
    span = tenure - recency  # first to last order
    table["customer_interval_days"] = np.where(orders > 1, span / np.maximum(orders - 1, 1.0), MISSING_DAYS)
    table["customer_repeat_share"] = 1.0 - products / np.maximum(pairs, 1.0)
    table["customer_basket_size"] = pairs / np.maximum(orders, 1.0)
    return table.done()


def _item_table(
    lines: pd.DataFrame, n_items: int, recent_days: float, price: np.ndarray, history_days: float
) -> np.ndarray:
    """One row per product, ITEM_FEATURES columns; counts are shares, so a shorter inner period scales alike."""

    def per_item(values: pd.Series) -> np.ndarray:
        out = np.zeros(n_items)
        out[values.index.to_numpy(dtype=np.int64)] = values.to_numpy()
        return out

    def order_share(window: float) -> np.ndarray:
        within = lines[lines["days"] <= window]
        return per_item(within.groupby("p")["order_id"].nunique()) / max(float(within["order_id"].nunique()), 1.0)

    grouped = lines.groupby("p")
    orders = per_item(grouped["order_id"].nunique())
    orders_recent = per_item(lines[lines["days"] <= recent_days].groupby("p")["order_id"].nunique())
    age = per_item(grouped["days"].max())
    per_buyer = lines.drop_duplicates(["c", "p", "order_id"]).groupby(["p", "c"]).size()
    recent_share = order_share(recent_days)
    week_share = order_share(7.0)
    table = Matrix(ITEM_FEATURES, n_items, np.float64)
    table["item_orders"] = orders / max(float(lines["order_id"].nunique()), 1.0)
    table["item_orders_recent"] = recent_share
    table["item_buyers"] = per_item(grouped["c"].nunique()) / max(float(lines["c"].nunique()), 1.0)
    table["item_age_share"] = age / history_days
    table["item_trend"] = orders_recent / np.maximum(orders, 1.0) * np.maximum(age, recent_days) / recent_days
    table["item_price"] = np.log(np.maximum(price, 1e-3))
    table["item_orders_week"] = week_share
    table["item_orders_quarter"] = order_share(QUARTER_DAYS)
    table["item_repeat_rate"] = per_item((per_buyer > 1).groupby(level=0).mean())
    table["item_growth"] = (week_share + 1e-4) / (recent_share + 1e-4)  # last week's share over the month's: a ramp
    return table.done()


def _last_days(lines: pd.DataFrame, interactions: Interactions, first: bool = False) -> sp.csr_matrix:
    """Days since each customer last (or first) bought each product, plus one (a same-day purchase stays non-zero)."""
    grouped = lines.groupby(["c", "p"])["days"]
    last = (grouped.max() if first else grouped.min()).reset_index()
    shape = (interactions.n_customers, interactions.n_products)
    return sp.csr_matrix((last["days"].to_numpy() + 1.0, (last["c"].to_numpy(), last["p"].to_numpy())), shape=shape)


def _last_basket(interactions: Interactions) -> sp.csr_matrix:
    """Each customer's most recent order (the latest by index among the youngest), as a binary product row."""
    n_orders = len(interactions.basket_customer)
    order = np.lexsort((-np.arange(n_orders), interactions.basket_age_days, interactions.basket_customer))
    customers = interactions.basket_customer[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = customers[1:] != customers[:-1]
    picked = order[first]
    owner = sp.csr_matrix(
        (np.ones(len(picked), dtype=np.float32), (customers[first], picked)),
        shape=(interactions.n_customers, n_orders),
    )
    return sp.csr_matrix(owner @ interactions.baskets, dtype=np.float32)


def _transitions(interactions: Interactions) -> sp.csr_matrix:
    """How often a product is bought in the order after one holding another (buyers of A next buy B), cosine."""
    n_orders = len(interactions.basket_customer)
    order = np.lexsort((np.arange(n_orders), -interactions.basket_age_days, interactions.basket_customer))
    same = interactions.basket_customer[order[1:]] == interactions.basket_customer[order[:-1]]
    before, after = interactions.baskets[order[:-1][same]], interactions.baskets[order[1:][same]]
    counts = sp.csr_matrix(before.T @ after, dtype=np.float64)
    support = np.asarray(interactions.baskets.sum(axis=0)).ravel()
    coo = counts.tocoo()
    values = coo.data / np.sqrt(support[coo.row] * support[coo.col])
    return sp.csr_matrix((values, (coo.row, coo.col)), shape=counts.shape, dtype=np.float32)


def _cart_rows(carts: Sequence[Sequence[int]], n_items: int) -> sp.csr_matrix:
    rows = [i for i, cart in enumerate(carts) for _ in cart]
    cols = [p for cart in carts for p in cart]
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(carts), n_items))


def _dense_scores(
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
    if isinstance(source, _FactorSource):
        fast = np.flatnonzero(known & ~has_cart)
        out[fast] = source.user_factors[customers[fast]] @ source.item_factors.T
        for i in np.flatnonzero(has_cart):
            user = source._user_vector(int(customers[i]) if known[i] else None, list(carts[int(i)]))
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
    if not isinstance(source, _FactorSource):
        np.maximum(out, 0.0, out=out)  # like `candidates`: only positive scores count
    return out


def _ranks(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
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
    scores = {name: _dense_scores(s, index, known, carts, n, cart_rows) for name, s in ctx.sources.items()}
    ranks = {name: _ranks(s, blocked) for name, s in scores.items()}
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
    _pair_columns(out, ctx.history_days, *facts)
    out["price_ratio"] = ctx.item_table[items, PRICE] - customer_price[rows]
    out.put(ITEM_FEATURES, ctx.item_table[items])
    out.put(CUSTOMER_FEATURES, customer_table[rows])
    return rows, items, out.done()


def _pair_columns(
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
    with _one_blas_thread().limit(limits=1, user_api="blas"):  # see `_row_scores`
        for name, source in ctx.sources.items():
            if name in sourced:
                scores[name] = products[sourced[name]].astype(np.float64)
            else:
                scores[name] = _row_scores(source, customer, cart_idx, n)
            if isinstance(source, CoPurchase | Repeat | _FactorSource):  # as `_dense_scores`: others are final
                scores[name][cart_idx] = 0.0
                if not isinstance(source, _FactorSource):
                    np.maximum(scores[name], 0.0, out=scores[name])
    keyed = {name: _keyed(s, blocked) for name, s in scores.items()}
    proposed = np.zeros(n, dtype=np.int64)
    for name, limit in ctx.proposals.items():
        proposed += _best(keyed[name], limit)
    items = np.flatnonzero(proposed > 0)
    rows = np.zeros(len(items), dtype=np.int64)

    out = Matrix(purchase_names(ctx.sources), len(items))
    for name in ctx.sources:
        peak = np.maximum(np.abs(scores[name][None, :]).max(axis=1), 1e-9)  # as candidate_frame: a row's max
        out[f"{name}_score"] = scores[name][items] / peak[rows]
        out[f"{name}_rank"] = _ranks_at(keyed[name], items)
    out["n_sources"] = proposed[items]
    customer_table = ctx.customer_table[index] * known
    last = dense_row(ctx.last_days, customer, n)[items]
    first = dense_row(ctx.first_days, customer, n)[items]
    orders = customer_table[rows, CUSTOMER_FEATURES.index("customer_orders")]
    _pair_columns(out, ctx.history_days, history[items], last, first, orders, *(p[items] for p in products[:4]))
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
    """The seed `_dense_scores` builds for a co-purchase source (history weighted, a cart product 1), its order:
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
    """`_dense_scores` for one (customer, cart) row, for the sources that are not co-purchase ones.

    Run it with one BLAS thread: a factor model's product is too small to share, and on a busy machine a second
    thread waits for a core (a request's 0.2 ms became 5 ms, and its p99 far more). One thread also sums in
    another order than `_dense_scores`' matrix products on several threads: scores may differ in the last bit.
    """
    out = np.zeros(n)
    if isinstance(source, Popularity):
        out[:] = source.scores
    elif isinstance(source, _FactorSource):
        user = source._user_vector(customer, cart.tolist())
        if user is not None:
            out[:] = source.item_factors @ user
    elif isinstance(source, Repeat):
        out[:] = dense_row(source.counts, customer, n)
    else:
        for item, score in source.candidates(customer, cart.tolist(), n):
            out[item] = score
    return out


def _keyed(scores: np.ndarray, blocked: np.ndarray) -> np.ndarray:
    """Sort keys of `_ranks`: minus the score where the product is ranked, +inf where it is not."""
    return np.where((scores != 0) & ~blocked, -scores, np.inf)


def _best(keyed: np.ndarray, limit: int) -> np.ndarray:
    """Mask of the products `_ranks` puts below `limit`: the `limit` smallest finite keys, ties to the lower index."""
    finite = np.isfinite(keyed)
    if int(finite.sum()) <= limit:
        return finite
    kth = np.partition(keyed, limit - 1)[limit - 1]
    below = keyed < kth
    ties = np.flatnonzero(keyed == kth)[: limit - int(below.sum())]
    below[ties] = True
    return below


def _ranks_at(keyed: np.ndarray, items: np.ndarray) -> np.ndarray:
    """`_ranks` of a single row, at `items` only: how many ranked products come first (better, or as good and a
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
