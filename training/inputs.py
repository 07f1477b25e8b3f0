"""Checks that the workspace holds what a family needs beyond the transactions, before any run is started.

Only transactions are required by the data contract; a family that needs more (customer ids on the lines,
reviews) says so here in words a user can act on: what is missing and which table, column or command provides
it (`features.derived.MissingInput`), never a bare column name from deep inside a fit.
"""

from __future__ import annotations

import pandas as pd

from features.derived import MissingInput
from retail.workspace import Workspace

IMPORT = "`retail data import canonical DIR`"
REVIEW_COLUMNS = "review_id, customer_id, product_id, ts, rating (1-5), text"


def require_customer_ids(tx: pd.DataFrame, needed_for: str) -> None:
    """Refuse transactions whose lines are all guest purchases: per-customer models have no one to learn from."""
    if tx["customer_id"].notna().any():
        return
    raise MissingInput(
        "customer ids on the transactions (every line is a guest purchase: customer_id is empty)",
        needed_for,
        f"fill the customer_id column of transactions.csv and import it again with {IMPORT}",
    )


def require_reviews(ws: Workspace, needed_for: str) -> None:
    """Refuse a workspace without reviews; the message says how to add them or where else text can come from."""
    path = ws.raw_table("reviews")
    if path.exists() and len(pd.read_parquet(path, columns=["review_id"])):
        return
    raise MissingInput(
        "a reviews table",
        needed_for,
        f"put a reviews.csv ({REVIEW_COLUMNS}) next to transactions.csv and import the folder again with {IMPORT}, "
        "or pass --reviews FILE (a CSV or parquet with text and rating or label)",
    )
