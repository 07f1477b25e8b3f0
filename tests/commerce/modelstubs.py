"""Stand-ins for the Bento's runtime and the adapters the order API calls: known answers, no trained models."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import pandas as pd
from fastapi import HTTPException

CATALOGUE = {  # product_id -> (name, category, price)
    "P1": ("product P1", "tops", 10.0),
    "P2": ("product P2", "tops", 2.5),
    "P3": ("product P3", "dresses", 19.99),
}


class StubScorer:
    """Sentiment: negative when the text says "bad"; counts the texts it was asked to score."""

    version = "9"

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.seen = fail, 0

    def score(self, texts: Sequence[str]) -> list[dict[str, Any]]:
        if self.fail:
            raise RuntimeError("model crashed")
        self.seen += len(texts)
        return [
            {"label": "negative", "score": 0.1} if "bad" in t else {"label": "positive", "score": 0.9} for t in texts
        ]


class StubChurn:
    """Churn: 0.72 (high) with two drivers for every known customer; `fail` raises as a broken model would."""

    feature_service = "churn_service"
    version = "3"
    reference_date = pd.Timestamp("2026-06-30")

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def known(self, frame: pd.DataFrame) -> pd.Series:
        return frame["orders_90d"].notna()

    def score_known(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        """As `ChurnAdapter.score_known`: the rows with features scored, the ids of the others."""
        known = self.known(frame).to_numpy()
        missing = list(dict.fromkeys(frame.loc[~known, "customer_id"].astype(str)))
        return self.score_online(frame[known].reset_index(drop=True)), missing

    def score_online(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.fail:
            raise RuntimeError("model crashed")
        return pd.DataFrame(
            {
                "customer_id": frame["customer_id"],
                "churn_probability": [0.72] * len(frame),
                "risk_band": ["high"] * len(frame),
                "driver_1": ["days since last purchase"] * len(frame),
                "driver_2": ["fewer orders lately"] * len(frame),
                "driver_3": [""] * len(frame),
                "recency_days": [88] * len(frame),
            }
        )


class StubRecommender:
    """Recommender: cross-sell P3 then P2, up-sell P2 then P1, limited to the available mask; records calls."""

    feature_service = "recommender_service"
    feature_names = ("orders_90d",)
    product_ids = tuple(CATALOGUE)
    version = "7"
    RANKED = {"cross_sell": ("P3", "P2"), "up_sell": ("P2", "P1")}

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def knows(self, customer_id: str | None) -> bool:
        return customer_id == "C1"

    def recommend(
        self,
        customer_id: str | None,
        cart: Sequence[str],
        mode: str,
        k: int,
        available: Any,
        features: Any,
        bought: Sequence[str] = (),
    ) -> SimpleNamespace:
        self.calls.append({"customer_id": customer_id, "mode": mode, "k": k, "features": features, "bought": bought})
        allowed = set(self.product_ids) - (set(bought) if mode == "cross_sell" else set())
        if available is not None:
            allowed &= {p for p, a in zip(self.product_ids, available, strict=True) if a}
        items = [
            {
                "product_id": p,
                "name": CATALOGUE[p][0],
                "category": CATALOGUE[p][1],
                "price": CATALOGUE[p][2],
                "score": 1.0 / (i + 1),
                "reason": f"{mode} reason for {p}",
            }
            for i, p in enumerate(self.RANKED[mode])
            if p in allowed
        ][:k]
        return SimpleNamespace(items=items, customer_known=self.knows(customer_id), note="")


class StubStock:
    """Stock per store: which products are in stock; an unknown store raises KeyError as `Stock` does."""

    def __init__(self, in_stock: dict[str | None, set[str]]) -> None:
        self.in_stock = in_stock
        self.asked: list[str | None] = []

    def available(self, store_id: str | None, product_ids: Sequence[str], catalogue: str) -> list[bool]:
        self.asked.append(store_id)
        if store_id not in self.in_stock:
            raise KeyError(store_id)
        return [p in self.in_stock[store_id] for p in product_ids]


class StubOnline:
    """The online store: `orders_90d` = 4 for C1 and C2, nothing for anyone else; nobody has bought anything."""

    def get_online_features(self, features: Any, entity_rows: list[dict[str, str]]) -> Any:
        ids = [row["customer_id"] for row in entity_rows]
        values = {
            "customer_id": ids,
            "orders_90d": [4.0 if c in ("C1", "C2") else None for c in ids],
            "products_bought": [[] for _ in ids],
        }
        return SimpleNamespace(to_df=lambda: pd.DataFrame(values), to_dict=lambda: values)


class StubRuntime:
    """Ready (unless `loading`), with the given adapters; any other family answers 503 as the real runtime does."""

    def __init__(self, stock: StubStock | None = None, loading: bool = False, **adapters: Any) -> None:
        self.adapters, self.ready, self.load_error = adapters, threading.Event(), None
        if not loading:
            self.ready.set()
        self.store = StubOnline()
        self.stock = stock or StubStock({None: set(CATALOGUE)})

    def adapter(self, key: Any) -> Any:
        """The stub for `key` (a family's `KEY`, as endpoints ask), or the runtime's 503."""
        name = key.name
        if name not in self.adapters:
            raise HTTPException(503, f"no {name} model is loaded")
        return self.adapters[name]

    def feature_service(self, name: str) -> str:
        return name
