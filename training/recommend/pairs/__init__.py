"""The reranker's input: candidates merged from several sources, one row per (customer, product) with pair features.

Everything is computed as of one cutoff from the transactions before it, so the same code builds the training
frame (as of an inner cutoff, labels after it) and the prediction frame (as of the end of training).

- `context`: the fitted sources and the per-customer, per-product and per-pair tables as of a cutoff.
- `frame`: `candidate_frame`, the candidates and features of a batch of (customer, cart) rows, dense per batch.
- `request`: `request_frame`, the same rows and values for one request, computed sparsely for its budget.
"""

from training.recommend.pairs.context import MISSING_DAYS, Context, build_context
from training.recommend.pairs.frame import MISSING_RANK, MISSING_SHARE, candidate_frame
from training.recommend.pairs.request import dense_row, request_frame

__all__ = [
    "MISSING_DAYS",
    "MISSING_RANK",
    "MISSING_SHARE",
    "Context",
    "build_context",
    "candidate_frame",
    "dense_row",
    "request_frame",
]
