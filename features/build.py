"""`retail features build`: raw tables -> feature tables -> Feast apply -> materialize."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pandas as pd

from features import derived, sales, sentiment, store, transforms
from retail.files import write_parquet
from retail.settings import Settings
from retail.workspace import Workspace

log = logging.getLogger(__name__)


def build_features(
    ws: Workspace,
    settings: Settings,
    step: Callable[[str], None] = log.info,
    feedback: pd.DataFrame | None = None,
    *,
    review_scores: Callable[[Workspace, Settings], pd.DataFrame],
) -> dict[str, int]:
    """Compute every feature table, register the repo and fill the online store; returns row counts.

    `review_scores(ws, settings)`: every review's score (`sentiment.SCORE_COLUMNS`), normally
    `training.sentiment.batch.review_scores` (the sentiment champion's); a parameter so that features
    never import training.

    `feedback`: scored feedback from the order API (`serving.commerce.feedback.scored_rows`), rolled up into the
    sentiment features next to the reviews.
    """
    tx = ws.read_raw("transactions")
    if tx is None:
        raise FileNotFoundError(
            f"no transactions in {ws.raw_dir}: run `retail data simulate` or `retail data import` first"
        )
    ws.ensure()
    tx = derived.with_store(tx, ws.read_raw("stores"))  # a plain order-line export: one online store
    products = ws.read_raw("products")
    scored: list[pd.DataFrame] = []

    def scores() -> pd.DataFrame:  # scored once, when the first sentiment table needs them
        if not scored:
            scored.append(review_scores(ws, settings))
            write_parquet(scored[0], ws.features_dir / "review_scores.parquet")
            if feedback is not None and len(feedback):
                scored[0] = pd.concat([scored[0], feedback[sentiment.SCORE_COLUMNS]], ignore_index=True)
        return scored[0]

    tables = {
        "customer_features": lambda: transforms.customer_features(tx, products),
        "customer_products": lambda: transforms.customer_products(tx),
        "product_features": lambda: transforms.product_features(tx),
        "store_features": lambda: transforms.store_features(tx),
        "product_daily_sales": lambda: sales.daily_sales(tx, products, by_store=False),
        "product_store_daily_sales": lambda: sales.daily_sales(tx, products, by_store=True),
        "product_attributes": lambda: sales.product_attributes(products, tx),
        "customer_sentiment": lambda: sentiment.rolled_up(scores(), "customer_id"),
        "product_sentiment": lambda: sentiment.rolled_up(scores(), "product_id"),
    }
    counts: dict[str, int] = {}
    for name, make in tables.items():
        started = time.perf_counter()
        step(f"computing {name.replace('_', ' ')}")
        frame = make()
        write_parquet(frame, ws.features_dir / f"{name}.parquet")
        counts[name] = len(frame)
        step(f"{name.replace('_', ' ')}: {len(frame):,} rows in {time.perf_counter() - started:.1f}s")
    step("feast apply")
    store.render_repo(ws, settings)
    store.apply(ws)
    start = tx["ts"].min().floor("D")
    end = tx["ts"].max().floor("D") + pd.Timedelta(days=1)
    step(f"materializing online store up to {end:%Y-%m-%d}")
    empty = [name for name, n in counts.items() if n == 0]
    store.materialize(ws, start.to_pydatetime(), end.to_pydatetime(), empty)
    ws.write_meta(data_start=start, data_end=end, features_as_of=end, feature_rows=counts)
    return counts
