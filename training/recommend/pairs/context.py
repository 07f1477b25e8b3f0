"""What the pair features are computed from: fitted sources plus per-customer, per-product and per-pair tables.

Everything is tabulated as of one cutoff from the transactions before it (`build_context`), so the training frames
(as of an inner cutoff) and the prediction frames (as of the end of training) read the same kind of tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from training.recommend.candidates import CandidateSource, CoPurchase
from training.recommend.columns import CUSTOMER_FEATURES, ITEM_FEATURES, Matrix, purchase_names
from training.recommend.dataset import Interactions, build_interactions, purchases

QUARTER_DAYS = 91.0
MISSING_DAYS = 10_000.0  # days since the customer last bought a product they never bought


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
        """The columns of `candidate_frame` (see `columns.purchase_names`)."""
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
