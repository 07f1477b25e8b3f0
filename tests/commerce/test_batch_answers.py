"""Batch-shaped endpoints answer for every id they can: `POST /churn` scores the customers that have features and
says why the others have none (a customer yet to buy, or not a customer), with a 200, never one 404 for all."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from modelstubs import StubRuntime
from shopdata import T0, key, stock_shop
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from features.catalog import CUSTOMER_FEATURES
from retail.db import connect
from serving import auth
from serving.commerce.tables import Customer
from training.churn.adapter import ChurnAdapter
from training.churn.model import MODEL_INPUT

LAST_PURCHASE = {"C1": 90.0, "C2": 60.0}  # the customers with features (stock_shop's C1 and C2 are customers)


class Recency:
    """A churn pyfunc whose probability is the days since the last purchase / 100."""

    metadata = SimpleNamespace(get_input_schema=lambda: SimpleNamespace(input_names=lambda: MODEL_INPUT))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        recency = frame["as_of_day"] - frame["last_purchase_day"]
        return pd.DataFrame({"churn_probability": recency / 100, "drivers": [["recency"]] * len(frame)})


class OnlineStore:
    """Feature rows for the customers in `LAST_PURCHASE`; anyone else comes back all null, as Feast answers."""

    def get_feature_service(self, name: str) -> str:
        return name

    def get_online_features(self, features: Any, entity_rows: list[dict[str, str]]) -> Any:
        ids = [row["customer_id"] for row in entity_rows]
        frame = pd.DataFrame({name: [1.0 if c in LAST_PURCHASE else np.nan for c in ids] for name in CUSTOMER_FEATURES})
        frame["last_purchase_day"] = [LAST_PURCHASE.get(c, np.nan) for c in ids]
        return SimpleNamespace(to_df=lambda: frame.assign(customer_id=ids))


@pytest.fixture
def service(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Engine]]:
    from serving.service import app

    engine = stock_shop(connect(db_url))
    rt = StubRuntime(churn=ChurnAdapter(Recency(), "4", reference_day=100.0))
    rt.store = OnlineStore()  # type: ignore[assignment]
    auth.forget()
    monkeypatch.setattr(app.state, "db_engine", engine, raising=False)
    monkeypatch.setattr(app.state, "runtime", rt, raising=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, engine
    auth.forget()


def test_churn_scores_who_it_can_and_says_why_not_for_the_others(service: tuple[TestClient, Engine]) -> None:
    client, engine = service
    with_purchases, never_bought = ["C2", "C1"], "C3"
    with Session(engine) as s, s.begin():
        s.add(Customer(customer_id=never_bought, created_at=T0))
    asked = [*with_purchases, never_bought, "NOPE", never_bought]
    answer = client.post("/churn", json={"customer_ids": asked}, headers=key(engine, "marketing"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [s["customer_id"] for s in body["scores"]] == with_purchases  # in the order asked
    assert [s["churn_probability"] for s in body["scores"]] == pytest.approx([0.40, 0.10])
    assert body["not_scored"] == [
        {"customer_id": never_bought, "status": "no_purchases"},
        {"customer_id": "NOPE", "status": "unknown_customer"},
    ]


def test_a_batch_of_customers_without_features_is_still_an_answer(service: tuple[TestClient, Engine]) -> None:
    client, engine = service
    answer = client.post("/churn", json={"customer_ids": ["NOPE"]}, headers=key(engine, "app"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["scores"] == []
    assert answer.json()["not_scored"] == [{"customer_id": "NOPE", "status": "unknown_customer"}]


def test_the_churn_answer_documents_the_statuses(service: tuple[TestClient, Engine]) -> None:
    client, _ = service
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/churn"]["post"]
    assert "404" not in operation["responses"], "a customer without a score is no longer an error"
    status = spec["components"]["schemas"]["CustomerNotScored"]["properties"]["status"]
    assert status["enum"] == ["no_purchases", "unknown_customer"] and "no purchase" in status["description"]
