"""POST /churn: churn probability, risk band and top drivers per customer, from their online features.

A batch answers 200 for every customer that has features; the others are listed in `not_scored` with why.
`score` is the plain function (the customer profile calls it too); the route adds auth and the dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from serving.auth import AUTH_RESPONSES, Caller, require
from serving.commerce.payloads import ID_PATTERN
from serving.commerce.tables import Customer
from serving.deps import database
from serving.payloads import INVALID, UNAVAILABLE, CustomerNotScored
from serving.runtime import Runtime, runtime
from training.churn.adapter import KEY, RiskBand, why_unscored

router = APIRouter(tags=["churn"])
ROLES = ("admin", "ops", "marketing", "sales_rep", "app")
SCORERS = require(*ROLES)
LOOKUP_CHUNK = 1000  # ids per IN (...) when asking the customers table


class ChurnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"customer_ids": ["C00001"]}]})

    customer_ids: list[Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]] = Field(
        min_length=1, max_length=10_000, description="Customers to score."
    )


class ChurnScore(BaseModel):
    customer_id: str
    churn_probability: float
    risk_band: RiskBand = Field(description="low < 0.3 <= medium < 0.6 <= high")
    drivers: list[str] = Field(
        description="What raises this customer's risk most, strongest first: up to 3 distinct facts in words."
    )
    recency_days: int | None = Field(
        description="Days from the customer's last order to `features_as_of` minus one day (0: ordered on the "
        "newest day seen). Orders placed through /v1 count as soon as they are paid."
    )


class ChurnResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": "3",
                    "features_as_of": "2026-06-30",
                    "scores": [
                        {
                            "customer_id": "C00001",
                            "churn_probability": 0.72,
                            "risk_band": "high",
                            "drivers": ["days since last purchase"],
                            "recency_days": 88,
                        }
                    ],
                    "not_scored": [
                        {"customer_id": "C09999", "status": "no_purchases"},
                        {"customer_id": "X1", "status": "unknown_customer"},
                    ],
                }
            ]
        }
    )

    model_version: str
    features_as_of: str = Field(description="The reference day recency is counted to: the newest purchase seen.")
    scores: list[ChurnScore] = Field(description="Every customer asked for that has features, in the order asked.")
    not_scored: list[CustomerNotScored] = Field(
        default_factory=list, description="The customers asked for that have no score, each once, with why."
    )


def customers_among(engine: Engine, ids: Sequence[str]) -> set[str]:
    """Which of `ids` the customers table holds (a read transaction)."""
    found: set[str] = set()
    with Session(db.reader(engine)) as s:
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = list(ids[start : start + LOOKUP_CHUNK])
            found.update(s.scalars(select(Customer.customer_id).where(Customer.customer_id.in_(chunk))))
    return found


def score(rt: Runtime, engine: Engine, request: ChurnRequest) -> ChurnResponse:
    """Churn probability, risk band and drivers per customer with online features; why not for the others.

    `engine` is the application database: it tells a customer without purchases from one that does not exist.
    """
    adapter = rt.adapter(KEY)
    service = rt.feature_service(adapter.feature_service)  # the service object is looked up once
    rows = [{"customer_id": c} for c in request.customer_ids]
    frame = rt.store.get_online_features(features=service, entity_rows=rows).to_df()
    scored, missing = adapter.score_known(frame)
    drivers = scored.filter(like="driver_").to_numpy()
    recency = [None if pd.isna(r) else int(r) for r in scored["recency_days"]]
    scores = [
        ChurnScore(
            customer_id=c, churn_probability=float(p), risk_band=b, drivers=[d for d in row if d], recency_days=r
        )
        for c, p, b, row, r in zip(
            scored["customer_id"], scored["churn_probability"], scored["risk_band"], drivers, recency, strict=True
        )
    ]
    statuses = why_unscored(missing, customers_among(engine, missing)) if missing else {}
    return ChurnResponse(
        model_version=adapter.version,
        features_as_of=f"{adapter.reference_date:%Y-%m-%d}",
        scores=scores,
        not_scored=[CustomerNotScored(customer_id=c, status=s) for c, s in statuses.items()],
    )


@router.post(
    "/churn",
    response_model=ChurnResponse,
    responses={**INVALID, **UNAVAILABLE, **AUTH_RESPONSES},
)
def churn(
    request: ChurnRequest,
    rt: Annotated[Runtime, Depends(runtime)],
    engine: Annotated[Engine, Depends(database)],
    _: Annotated[Caller, Depends(SCORERS)],
) -> ChurnResponse:
    """Churn probability, risk band and drivers per customer, in the order asked.

    Customers without features are not an error: each is in `not_scored` with `no_purchases` (a customer who
    has not bought yet) or `unknown_customer` (not in the customers table), and the others are scored.
    """
    return score(rt, engine, request)
