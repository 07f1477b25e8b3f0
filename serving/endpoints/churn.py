"""POST /churn: churn probability, risk band and top drivers per customer, from their online features."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from features import store as feature_store
from serving.orders.auth import AUTH_RESPONSES, Caller, require
from serving.runtime import Runtime, runtime
from serving.schemas import INVALID, UNAVAILABLE, Invalid, invalid
from training.churn.adapter import RiskBand

router = APIRouter(tags=["churn"])
SCORERS = require("admin", "ops", "marketing", "sales_rep", "app")


class ChurnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"customer_ids": ["C00001"]}]})

    customer_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=10_000, description="Customers to score."
    )


class ChurnScore(BaseModel):
    customer_id: str
    churn_probability: float
    risk_band: RiskBand = Field(description="low < 0.3 <= medium < 0.6 <= high")
    drivers: list[str] = Field(description="What raises this customer's risk most, strongest first (up to 3).")
    recency_days: int | None = Field(
        description="Days from the customer's last order to `features_as_of` minus one day (0: ordered on the "
        "newest day seen). Orders placed through /v1 count as soon as they are paid."
    )


class ChurnResponse(BaseModel):
    model_version: str
    features_as_of: str = Field(description="The reference day recency is counted to: the newest purchase seen.")
    scores: list[ChurnScore]


@router.post(
    "/churn",
    response_model=ChurnResponse,
    responses={
        404: {"model": Invalid, "description": "Customers the feature store does not know."},
        **INVALID,
        **UNAVAILABLE,
        **AUTH_RESPONSES,
    },
)
def churn(
    request: ChurnRequest, rt: Annotated[Runtime, Depends(runtime)], _: Annotated[Caller, Depends(SCORERS)]
) -> ChurnResponse | JSONResponse:
    """Churn probability, risk band and drivers per customer, in the order asked."""
    adapter = rt.adapter("churn")
    ids = request.customer_ids
    frame = feature_store.online_features(rt.store, adapter.feature_service, "customer_id", ids)
    known = adapter.known(frame)
    if not known.all():
        unknown = sorted(set(frame.loc[~known, "customer_id"]))
        return JSONResponse(status_code=404, content=invalid("customer_ids", "unknown customer", unknown, "not_found"))
    scored = adapter.score_online(frame)
    drivers = scored.filter(like="driver_").to_numpy()
    recency = [None if pd.isna(r) else int(r) for r in scored["recency_days"]]
    scores = [
        ChurnScore(
            customer_id=c, churn_probability=float(p), risk_band=b, drivers=[d for d in row if d], recency_days=r
        )
        for c, p, b, row, r in zip(ids, scored["churn_probability"], scored["risk_band"], drivers, recency, strict=True)
    ]
    return ChurnResponse(
        model_version=adapter.version, features_as_of=f"{adapter.reference_date:%Y-%m-%d}", scores=scores
    )
