"""`retail campaign build`: one row per customer known before `as_of`, for marketing.

Stages (each timed, see `Campaign.seconds`): load the churn and recommender champions, stock online and prices
(`load_scorer`); lifetime value, value at risk, loyalty tier and purchases from the raw transactions
(`history`) and the churn features as of `as_of` (`churn features`); then `Scorer.score`: churn probability and
band for everyone at once (`churn model`), the next-best offer in stock online for blocks of customers spread
over forked worker processes (`offers`, wall time; `offers (worker-seconds)` sums the workers' busy time) and
the discount with its expected value (`policy`). Nothing is written here: the caller writes the frame whole or
not at all. `Scorer.score` is also what the MLflow pyfunc `CampaignModel` runs (e.g. as a Spark UDF).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from campaign import churn, history
from retail.settings import Settings
from retail.workspace import Workspace
from serving.commerce.discounts import CampaignPolicy, decide
from serving.commerce.loyalty import policy as loyalty_policy
from serving.commerce.seed import prices_cents
from serving.commerce.stock import Stock
from training import run
from training.churn import batch as churn_batch
from training.recommend.batch import NONE, rank_customers
from training.recommend.model import Mode, Recommender
from training.recommend.pyfunc import recommender_of

log = logging.getLogger(__name__)
BLOCK = 2_000  # customers per task: large enough for the ranker's batches, small enough to spread over workers
TX_COLUMNS = ["order_id", "customer_id", "product_id", "ts", "quantity", "unit_price"]
COLUMNS = [
    "customer_id", "churn_probability", "risk_band", "lifetime_value", "spend_recent", "value_at_risk",
    "loyalty_tier", "offer_product_id", "offer_mode", "offer_score", "offer_reason", "offer_price",
    "discount_pct", "discount_reason", "expected_value", "driver_1", "driver_2", "driver_3",
]  # fmt: skip

# The scorer and inputs the forked workers read (set just before forking, so never pickled).
_shared: dict[str, Any] = {}


@dataclass
class Campaign:
    frame: pd.DataFrame
    as_of: pd.Timestamp
    versions: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start
    log.info("campaign: %s done in %.1fs", stage, seconds[stage])


def _load_models(ws: Workspace, settings: Settings) -> tuple[Any, str, Recommender, str]:
    found = []
    for name in ("churn", "recommender"):
        try:
            found.append(run.load(ws, settings, name))
        except ValueError:
            raise ValueError(
                f"no {name} model is @champion in {ws.root}: train one with `retail train {name}` "
                f"(and `retail models promote {name}` if it was registered as @challenger)"
            ) from None
    (churn_model, churn_version), (loaded, rec_version) = found
    return churn_model, churn_version, recommender_of(loaded, "recommender@champion"), rec_version


def resolve_as_of(ws: Workspace, as_of: pd.Timestamp | None) -> pd.Timestamp:
    """`as_of` (default: the features' date), floored to the day; refused after the data ends."""
    meta = ws.read_meta()
    when = as_of if as_of is not None else meta.get("features_as_of")
    if when is None:
        raise FileNotFoundError(f"{ws.root} has no features: run `retail features build` first")
    when = pd.Timestamp(when).floor("D")
    end = meta.get("data_end")
    if end is not None and when > pd.Timestamp(end):
        raise ValueError(f"--as-of {when:%Y-%m-%d} is after the data ends ({pd.Timestamp(end):%Y-%m-%d})")
    return when


def bought_matrix(tx: pd.DataFrame, ids: np.ndarray, product_ids: tuple[str, ...]) -> sp.csr_matrix:
    """Customers (`ids` order) x products: units bought in `tx` (the model may not have seen the latest)."""
    lines = tx[tx["quantity"] > 0]
    rows = pd.Index(ids).get_indexer(lines["customer_id"])
    cols = pd.Index(product_ids).get_indexer(lines["product_id"].astype(str))
    ok = (rows >= 0) & (cols >= 0)
    data = lines["quantity"].to_numpy(np.float32)[ok]
    return sp.csr_matrix((data, (rows[ok], cols[ok])), shape=(len(ids), len(product_ids)))


def _block(span: tuple[int, int]) -> tuple[pd.DataFrame, float]:
    """Offers for rows [start, stop) of what `Scorer.score` shared (in a worker, or in this process)."""
    start, stop = span
    scorer: Scorer = _shared["scorer"]
    started = time.perf_counter()
    with threadpool_limits(1):  # one core per worker: the workers are the parallelism
        offers = scorer.offers(_shared["ids"][start:stop], _shared["bands"][start:stop], _shared["bought"][start:stop])
    return offers, time.perf_counter() - started


@dataclass
class Scorer:
    """The loaded champions, the stock mask, prices and the policy: what scores a set of customers."""

    churn_model: Any
    churn_version: str
    recommender: Recommender
    recommender_version: str
    available: np.ndarray | None
    prices: pd.Series  # product_id -> price, currency units
    policy: CampaignPolicy

    def score(
        self,
        features: pd.DataFrame,
        values: pd.DataFrame,
        bought: sp.csr_matrix,
        workers: int = 1,
        progress: Callable[[str], None] = log.info,
        seconds: dict[str, float] | None = None,
    ) -> pd.DataFrame:
        """Campaign rows (`COLUMNS`) for the customers of `features` (churn inputs, `churn.features_as_of`), with
        their `values` (`history.customer_values`) and purchases (`bought_matrix`), all in the same order.

        Churn is scored here, all rows at once; the offers a block at a time by `workers` forked processes. The
        workers run LightGBM on one thread only: a forked child must not start an OpenMP team of its own, since
        its OpenMP runtime still believes in the parent's thread pool (it waits for it for ever).
        """
        seconds = {} if seconds is None else seconds
        if not len(features):
            return pd.DataFrame(columns=COLUMNS)
        with _timed(seconds, "churn model"):
            scores = churn_batch.score(self.churn_model, self.churn_version, features).reset_index(drop=True)
        n = len(scores)
        spans = [(start, min(start + BLOCK, n)) for start in range(0, n, BLOCK)]
        shared = {"ids": scores["customer_id"].to_numpy(), "bands": scores["risk_band"].to_numpy()}
        _shared.update(shared, scorer=self, bought=sp.csr_matrix(bought))
        pool = multiprocessing.get_context("fork").Pool(workers) if workers > 1 and len(spans) > 1 else None
        parts, done, busy, started = [], 0, 0.0, time.perf_counter()
        try:
            with _timed(seconds, "offers"):
                found = pool.imap(_block, spans) if pool is not None else map(_block, spans)
                for (start, stop), (part, spent) in zip(spans, found, strict=True):
                    parts.append(part)
                    busy += spent
                    done += stop - start
                    if done == n or len(parts) % 5 == 0:
                        rate = done / max(time.perf_counter() - started, 1e-9) * 60
                        progress(f"offers for {done:,}/{n:,} customers ({rate:,.0f} a minute, {workers} worker(s))")
        finally:
            if pool is not None:
                pool.close()
                pool.join()
            _shared.clear()
        seconds["offers (worker-seconds)"] = busy
        with _timed(seconds, "policy"):
            frame = pd.concat([scores, values.reset_index(drop=True), pd.concat(parts, ignore_index=True)], axis=1)
            frame["offer_price"] = frame["offer_product_id"].map(self.prices).astype("float64")
            decided = decide(
                self.policy,
                frame["churn_probability"].to_numpy(),
                frame["risk_band"].to_numpy(),
                frame["value_at_risk"].to_numpy(),
                frame["offer_price"].to_numpy(),
            )
            return pd.concat([frame, decided], axis=1)[COLUMNS]

    def offers(self, ids: np.ndarray, bands: np.ndarray, bought: sp.csr_matrix) -> pd.DataFrame:
        """offer_product_id, offer_mode, offer_score, offer_reason: an upgrade for `up_sell_bands` when one is in
        stock, else the top cross-sell (never one of `bought`)."""
        rec, n = self.recommender, len(ids)
        indices = [rec.customer_index(c) for c in ids]
        item, score = np.full(n, NONE, dtype=np.int64), np.full(n, np.nan)
        reason, mode = np.full(n, None, dtype=object), np.full(n, None, dtype=object)

        def offer(rows: np.ndarray, wanted: Mode) -> np.ndarray:
            if not len(rows):
                return rows
            customers = [indices[r] for r in rows]
            # one thread: a forked worker must not start an OpenMP team of its own (see `score`)
            ranked = rank_customers(rec, customers, wanted, 1, self.available, bought[rows], threads=1)
            picked = ranked.items[:, 0]
            item[rows], score[rows], mode[rows] = picked, np.round(ranked.scores[:, 0], 6), wanted
            reason[rows] = [found[0] if found else "" for found in ranked.reasons]
            return rows[picked == NONE]

        up = np.isin(bands, list(self.policy.up_sell_bands))
        missed = offer(np.flatnonzero(up), "up_sell")
        offer(np.flatnonzero(~up), "cross_sell")
        offer(missed, "cross_sell")  # no upgrade in stock: the top cross-sell instead
        none = item == NONE
        product = np.array(rec.product_ids, dtype=object)[np.where(none, 0, item)]
        product[none], mode[none], reason[none] = None, None, None
        return pd.DataFrame(
            {"offer_product_id": product, "offer_mode": mode, "offer_score": score, "offer_reason": reason}
        )


def load_scorer(ws: Workspace, settings: Settings, as_of: pd.Timestamp, policy: CampaignPolicy) -> Scorer:
    """The champions (refusing a recommender that learnt from data after `as_of`), stock online and prices."""
    churn_model, churn_version, rec, rec_version = _load_models(ws, settings)
    if rec.as_of > as_of:
        raise ValueError(
            f"recommender v{rec_version} learnt from data up to {rec.as_of:%Y-%m-%d}, after --as-of "
            f"{as_of:%Y-%m-%d}: train one with --as-of {as_of:%Y-%m-%d} or pass a later date"
        )
    available = Stock(ws, database_url=settings.database_url).available(None, rec.product_ids, rec_version)
    tx = ws.read_transactions(TX_COLUMNS)
    prices = pd.Series(prices_cents(ws.read_raw("products"), tx[tx["ts"] < as_of]), dtype="float64") / 100
    return Scorer(churn_model, churn_version, rec, rec_version, available, prices, policy)


@dataclass(frozen=True)
class Inputs:
    """What `Scorer.score` reads for every customer known before `as_of`."""

    features: pd.DataFrame
    values: pd.DataFrame
    bought: sp.csr_matrix


def campaign_inputs(
    ws: Workspace, as_of: pd.Timestamp, policy: CampaignPolicy, product_ids: tuple[str, ...], seconds: dict[str, float]
) -> Inputs:
    with _timed(seconds, "history"):
        tx = ws.read_transactions(TX_COLUMNS)
        tx = tx[tx["ts"] < as_of]
        ids = history.known_customers(tx, as_of)
        if not len(ids):
            raise ValueError(f"no customers are known before {as_of:%Y-%m-%d}")
        values = history.customer_values(tx, ids, as_of, policy, loyalty_policy())
        bought = bought_matrix(tx, ids, product_ids)
    with _timed(seconds, "churn features"):
        features = churn.features_as_of(ws, ids, as_of)
    return Inputs(features, values, bought)


def build_campaign(
    ws: Workspace,
    settings: Settings,
    as_of: pd.Timestamp | None = None,
    policy: CampaignPolicy | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] = log.info,
) -> Campaign:
    """Every customer known before `as_of` with churn, value, tier, next-best offer, discount and its value."""
    policy = policy or CampaignPolicy()
    workers = workers or os.cpu_count() or 1
    seconds: dict[str, float] = {}
    when = resolve_as_of(ws, as_of)
    with _timed(seconds, "load models"):
        scorer = load_scorer(ws, settings, when, policy)
    inputs = campaign_inputs(ws, when, policy, scorer.recommender.product_ids, seconds)
    progress(f"campaign as of {when:%Y-%m-%d}: {len(inputs.values):,} customers, {workers} worker(s)")
    frame = scorer.score(inputs.features, inputs.values, inputs.bought, workers, progress, seconds)
    versions = {"churn": scorer.churn_version, "recommender": scorer.recommender_version}
    return Campaign(frame, when, versions, seconds)
