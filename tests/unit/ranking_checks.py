"""Checks every recommender answer must pass, shared by the candidate-source and reranker tests."""

from __future__ import annotations

import numpy as np


def assert_valid(found: list[tuple[int, float]], k: int, n_products: int, blocked: set[int]) -> None:
    """At most k unique, valid product indices with finite scores, best first, none of them blocked."""
    items = [i for i, _ in found]
    scores = [s for _, s in found]
    assert len(found) <= k
    assert len(set(items)) == len(items), "duplicates"
    assert all(isinstance(i, int) and 0 <= i < n_products for i in items), "invalid index"
    assert all(isinstance(s, float) and np.isfinite(s) for s in scores)
    assert scores == sorted(scores, reverse=True), "not best first"
    assert not set(items) & blocked, "a blocked product (cart, excluded or already bought) was returned"
