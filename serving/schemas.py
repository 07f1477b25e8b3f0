"""Request and response models; their examples document the OpenAPI page."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChurnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"customer_ids": ["C00001"]}]})

    customer_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        min_length=1, max_length=10_000, description="Customers to score."
    )


RiskBand = Literal["low", "medium", "high"]


class ChurnScore(BaseModel):
    customer_id: str
    churn_probability: float
    risk_band: RiskBand


class ChurnResponse(BaseModel):
    model_version: str
    features_as_of: str
    scores: list[ChurnScore]


class ModelStatus(BaseModel):
    name: str
    alias: str
    version: str
    run_id: str
