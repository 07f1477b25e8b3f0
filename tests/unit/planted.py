"""Tiny data for the unit tier: a purchase history with a planted complement (shared by the reranker and
recommender tests), and the tiny simulated workspace every family trains on in the family contract's fast tier."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.build import build_features
from features.rawio import write_tables
from features.sentiment import SCORE_COLUMNS
from features.simulate import simulate
from retail.settings import Settings
from retail.workspace import Workspace
from training import families, run
from training.recommend.rerank import RerankConfig
from training.tracking import TrainResult

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


# The tiny workspace of the family contract's fast tier: a few hundred customers over five months, enough reviews
# of both kinds for sentiment
TINY_WORLD = {"n_customers": 400, "days": 150, "seed": 7, "n_products": 40, "n_stores": 1}


@dataclass
class TinyWorkspace:
    """A tiny simulated workspace with every registered family trained on it once (`tiny_workspace`)."""

    ws: Workspace
    settings: Settings
    trained: dict[str, TrainResult]  # family name -> what `training.run.train` returned


def _none_yet(ws: Workspace, settings: Settings) -> pd.DataFrame:
    return pd.DataFrame(columns=SCORE_COLUMNS)


def tiny_workspace(root: Path) -> TinyWorkspace:
    """Simulate -> features (Feast repo applied, online store filled) -> every family trained and registered.

    Each family trains with its `tiny` options (`Family.tiny`: the code paths of a real run, on tiny settings).
    MLflow keeps runs and registry in files in the workspace (with MLFLOW_ALLOW_FILE_STORE=true, as conftest sets).
    """
    settings = Settings(workspace=root, tracking_uri=(root / "mlruns" / "store").as_uri())
    ws = Workspace.at(root).ensure()
    write_tables(ws.raw_dir, simulate(**TINY_WORLD))
    build_features(ws, settings, review_scores=_none_yet)  # what the sentiment champion's scores are before one exists
    trained = {}
    for name in families.names():
        family = families.family(name)
        trained[name] = run.train(name, ws, settings, **(family.tiny or family.quick))
    return TinyWorkspace(ws, settings, trained)
