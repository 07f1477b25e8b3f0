"""A tiny purchase history with a planted complement, shared by the reranker and recommender tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.recommend.rerank import RerankConfig

A, B, STAPLE = "p00", "p01", "p02"  # buyers of A buy B about two weeks later; the staple is in most orders
START = pd.Timestamp("2024-01-01")
INNER_CUTOFF, AS_OF = START + pd.Timedelta(days=50), START + pd.Timedelta(days=90)
NEWCOMERS = [f"t{i:02d}" for i in range(5)]  # bought A just before AS_OF, not B yet
TINY = RerankConfig(
    als_factors=8,
    als_iterations=5,
    bpr_factors=8,
    bpr_iterations=20,
    proposals={"als": 8, "bpr": 8, "co_order": 8, "co_customer": 8, "repeat": 8, "popular": 8},
    earlier_cutoffs_days=(10,),
    n_estimators=30,
    num_leaves=7,
    min_child_samples=1,
    num_threads=1,
)


def planted_transactions(seed: int = 0) -> pd.DataFrame:
    """30 A-buyers (later B), 30 noise customers over 9 noise products, and the newcomers who just bought A."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, str, pd.Timestamp, float]] = []
    price = {A: 5.0, B: 6.0}

    def order(customer: str, day: int, products: list[str]) -> None:
        order_id = f"o{len({r[0] for r in rows}):04d}"
        ts = START + pd.Timedelta(days=day, hours=int(rng.integers(8, 18)))
        rows.extend((order_id, customer, p, ts, price.get(p, 2.0)) for p in products)

    noise = [f"p{i:02d}" for i in range(3, 12)]
    for c in range(30):
        day = 2 * c
        order(f"a{c:02d}", day, [A, STAPLE])
        order(f"a{c:02d}", day + 15, [B])
    for c in range(30):
        for day in (int(rng.integers(0, 40)), int(rng.integers(40, 88))):
            order(f"n{c:02d}", day, [STAPLE, *rng.choice(noise, size=2, replace=False).tolist()])
    for i, customer in enumerate(NEWCOMERS):
        order(customer, 80 + i, [A, STAPLE])
    tx = pd.DataFrame(rows, columns=["order_id", "customer_id", "product_id", "ts", "unit_price"])
    tx["quantity"] = 1
    return tx
