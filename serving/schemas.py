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


class RecommendRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer_id": "C00001", "cart": ["P0001"], "store_id": "S01", "mode": "cross_sell", "k": 5},
                {"cart": ["P0001", "P0002"], "mode": "all"},
            ]
        },
    )

    customer_id: str | None = Field(None, min_length=1, max_length=64, description="Omit for a guest.")
    cart: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=200, description="Product ids in the cart now."
    )
    store_id: str | None = Field(
        None, min_length=1, max_length=64, description="Only products in stock there; omit for the online shop."
    )
    mode: Literal["all", "cross_sell", "up_sell"] = Field(
        "all", description="all: next purchases; cross_sell: never bought; up_sell: a higher tier."
    )
    k: int = Field(10, ge=1, le=100, description="How many products.")


class Recommended(BaseModel):
    product_id: str
    name: str
    category: str
    price: float
    score: float
    reason: str


class RecommendResponse(BaseModel):
    model_version: str
    mode: str
    customer_id: str | None
    customer_known: bool
    store_id: str | None
    note: str = Field("", description="Set when the answer falls back (unknown customer, guest, nothing to upgrade).")
    items: list[Recommended]
