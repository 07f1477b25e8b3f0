"""Response models of the customer 360 profile and of a customer's offers (pydantic, with examples).

Every model-backed section may be empty (`null` or `[]`); `notes` then says why, one line per section. A section
the caller's role may not see (see `serving.endpoints.profile.SECTIONS`) is `null`, with a note saying so.
The customer record and order summary are the commerce domain's (`serving.commerce.customers`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.commerce.customers import CustomerOut, OrderSummary
from serving.commerce.feedback import FeedbackOut
from serving.commerce.payloads import OrderOut
from serving.payloads import Recommended
from training.churn.adapter import RiskBand

__all__ = [
    "ChurnOut",
    "CustomerOut",
    "Offer",
    "OfferKind",
    "OffersOut",
    "OrderSummary",
    "ProfileOut",
    "Recommendations",
]

OfferKind = Literal["cross_sell", "up_sell"]


class ChurnOut(BaseModel):
    model_version: str
    probability: float = Field(ge=0, le=1, description="P(no purchase in the model's horizon).")
    band: RiskBand = Field(description="low < 0.3 <= medium < 0.6 <= high")
    drivers: list[str] = Field(description="What raises this customer's risk most, strongest first.")


class Offer(Recommended):
    kind: OfferKind = Field(description="cross_sell: never bought; up_sell: a higher tier of what they buy.")


class Recommendations(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": "4",
                    "store_id": "S01",
                    "items": [
                        {
                            "kind": "cross_sell",
                            "product_id": "P0042",
                            "name": "Linen scarf",
                            "category": "accessories",
                            "price": 19.99,
                            "score": 0.81,
                            "reason": "often bought with P0001",
                        }
                    ],
                }
            ]
        }
    )

    model_version: str
    store_id: str | None = Field(description="In stock there; None: in stock online.")
    items: list[Offer] = Field(description="Top cross-sell items, then top up-sell items not already offered.")


class ProfileOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer": {"customer_id": "C00001", "region": "north", "created_at": "2025-01-02T00:00:00Z"},
                    "orders": {
                        "orders": 12,
                        "spend": 431.5,
                        "last_order_at": "2026-06-28T14:03:00Z",
                        "channels": {"web": 9, "store": 3},
                        "usual_store_id": "S01",
                    },
                    "open_orders": [],
                    "loyalty": {"balance": 820, "tier": "silver", "next_tier": "gold", "spend_to_next_tier": 859.5},
                    "churn": {
                        "model_version": "2",
                        "probability": 0.71,
                        "band": "high",
                        "drivers": ["days since last purchase", "fewer orders lately"],
                    },
                    "feedback": [],
                    "recommendations": None,
                    "notes": ["recommendations: no recommender model is loaded"],
                }
            ]
        }
    )

    customer: CustomerOut
    orders: OrderSummary | None = Field(description="None: the caller's role may not see the customer's orders.")
    open_orders: list[OrderOut] | None = Field(
        description="Orders not yet delivered, picked up or cancelled; None: the role may not see orders."
    )
    loyalty: dict[str, Any] | None = Field(
        description="Balance, tier, progress to the next tier and the newest ledger entries, as /loyalty answers."
    )
    churn: ChurnOut | None
    feedback: list[FeedbackOut] | None = Field(
        description="Their newest feedback, with its sentiment; None: the role may not read feedback."
    )
    recommendations: Recommendations | None = Field(description="In stock at their usual store (online if none).")
    notes: list[str] = Field(
        description="Why a section is empty: the role may not see it, a missing model, or a section that failed."
    )


class OffersOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"customer_id": "C00001", "points": 1250, "offers": None, "notes": ["offers: no recommender is loaded"]}
            ]
        }
    )

    customer_id: str
    points: int | None = Field(
        description="Loyalty points balance; None when loyalty is not available or the role may not see it."
    )
    offers: Recommendations | None = Field(description="Top cross-sell and up-sell items in stock online.")
    notes: list[str]
