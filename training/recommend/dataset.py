"""The recommender's dataset: customer x product interactions built from transactions, with stable id <-> index
maps (the family's `dataset` stage splits the transactions at the evaluation cutoff; everything learns from these)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.nearest_neighbours import bm25_weight

REQUIRED = ("order_id", "customer_id", "product_id", "ts", "quantity")


@dataclass(frozen=True)
class Interactions:
    """Purchases as sparse matrices; every index refers to `customer_ids` / `product_ids`.

    `matrix` counts, per customer and product, the orders that held the product (order counts rather than
    quantities, so one wholesale line of 1,000 units does not drown a habit). `baskets` keeps the orders
    themselves, for co-purchase and for recency weighting.
    """

    matrix: sp.csr_matrix
    baskets: sp.csr_matrix
    basket_customer: np.ndarray
    basket_age_days: np.ndarray
    customer_ids: tuple[str, ...]
    product_ids: tuple[str, ...]
    customer_index: dict[str, int]
    product_index: dict[str, int]

    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    def products_of(self, product_ids: Iterable[str]) -> list[int]:
        """Indices of known products; an unknown one is named in the error."""
        unknown = [p for p in product_ids if p not in self.product_index]
        if unknown:
            raise KeyError(f"unknown products: {', '.join(map(str, unknown[:10]))}")
        return [self.product_index[p] for p in product_ids]

    def history(self, customer: int) -> np.ndarray:
        """Product indices the customer has bought (sorted)."""
        row = self.matrix.indptr
        return np.asarray(self.matrix.indices[row[customer] : row[customer + 1]])

    def customer_items(self, half_life_days: float | None = None) -> sp.csr_matrix:
        """Order counts per customer and product, each order weighted 0.5 ** (age / half life) when given."""
        if half_life_days is None:
            return self.matrix
        weights = np.power(0.5, self.basket_age_days / half_life_days).astype(np.float32)
        n_orders = self.baskets.shape[0]
        owner = sp.csr_matrix(
            (weights, (self.basket_customer, np.arange(n_orders))), shape=(self.n_customers, n_orders)
        )
        return sp.csr_matrix(owner @ self.baskets, dtype=np.float32)


def purchases(tx: pd.DataFrame) -> pd.DataFrame:
    """Positive-quantity lines with a customer: what the recommender learns from and is judged on."""
    missing = [c for c in REQUIRED if c not in tx.columns]
    if missing:
        raise ValueError(f"transactions lack columns: {', '.join(missing)}")
    keep = tx["customer_id"].notna() & (tx["quantity"] > 0)
    out = tx.loc[keep, list(REQUIRED)].copy()
    for column in ("order_id", "customer_id", "product_id"):
        out[column] = out[column].astype(str)
    return out


def build_interactions(tx: pd.DataFrame, products: Sequence[str] | None = None) -> Interactions:
    """Build the matrices from a transactions frame; `products` fixes the catalogue (default: those bought)."""
    lines = purchases(tx)
    product_ids = tuple(products) if products is not None else tuple(sorted(lines["product_id"].unique()))
    product_index = {p: i for i, p in enumerate(product_ids)}
    lines = lines[lines["product_id"].isin(product_index)]
    customer_ids = tuple(sorted(lines["customer_id"].unique()))
    customer_index = {c: i for i, c in enumerate(customer_ids)}

    orders = lines.groupby("order_id", sort=True).agg(customer_id=("customer_id", "first"), ts=("ts", "max"))
    order_pos = pd.Series(np.arange(len(orders)), index=orders.index)
    pairs = pd.DataFrame(
        {"order": order_pos.loc[lines["order_id"]].to_numpy(), "product": lines["product_id"].map(product_index)}
    ).drop_duplicates()
    ones = np.ones(len(pairs), dtype=np.float32)
    baskets = sp.csr_matrix(
        (ones, (pairs["order"].to_numpy(), pairs["product"].to_numpy())), shape=(len(orders), len(product_ids))
    )
    basket_customer = orders["customer_id"].map(customer_index).to_numpy(dtype=np.int64)
    latest = orders["ts"].max() if len(orders) else pd.Timestamp(0)
    age = ((latest - orders["ts"]) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    owner = sp.csr_matrix(
        (np.ones(len(orders), dtype=np.float32), (basket_customer, np.arange(len(orders)))),
        shape=(len(customer_ids), len(orders)),
    )
    matrix = sp.csr_matrix(owner @ baskets, dtype=np.float32)
    matrix.sort_indices()
    return Interactions(
        matrix=matrix,
        baskets=baskets,
        basket_customer=basket_customer,
        basket_age_days=age,
        customer_ids=customer_ids,
        product_ids=product_ids,
        customer_index=customer_index,
        product_index=product_index,
    )


def bm25(matrix: sp.spmatrix, k1: float = 100.0, b: float = 0.8) -> sp.csr_matrix:
    """BM25-weighted copy (float32 CSR): damps heavy buyers and very popular products before ALS."""
    return sp.csr_matrix(bm25_weight(sp.coo_matrix(matrix), K1=k1, B=b), dtype=np.float32)
