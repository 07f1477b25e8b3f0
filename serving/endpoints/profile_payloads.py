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
from serving.commerce.payloads import OrderOut, UtcDateTime
from serving.payloads import Recommended
from training.churn.adapter import RiskBand

__all__ = [
    "ChurnOut",
    "CustomerOut",
    "Offer",
    "OfferKind",
    "OffersOut",
    "OrderSummary",
    "PricedOffer",
    "PricedOffers",
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


class PricedOffer(BaseModel):
    """A recommended product with its personal discount and single-use code (or a live offer the customer holds)."""

    kind: OfferKind = Field(description="cross_sell: never bought; up_sell: a higher tier of what they buy.")
    product_id: str
    name: str
    category: str | None
    price: float | None = Field(description="Today's price of one unit (currency units); None: no price.")
    score: float | None = Field(description="The recommender's score; None for an offer no longer recommended.")
    reason: str | None = Field(description="Why it is recommended; None for an offer no longer recommended.")
    recommended: bool = Field(
        description="False: a live offer the customer still holds for a product no longer recommended; its code "
        "stays redeemable until it expires."
    )
    code: str | None = Field(
        description="The single-use code that redeems the discount at checkout, for this customer only; None: no "
        "discount (`discount_reason` says why)."
    )
    discount_pct: float = Field(ge=0, le=90, description="Percent off the product's line at checkout.")
    discount_cents: int = Field(
        ge=0, description="What the offer takes off one unit at today's price, in cents: min(pct%, cap)."
    )
    discount: float = Field(ge=0, description="`discount_cents` in currency units.")
    cap_cents: int = Field(ge=0, description="The most it takes off an order: pct% of one unit's price at issue.")
    max_discount: float = Field(ge=0, description="`cap_cents` in currency units.")
    issued_at: UtcDateTime | None
    expires_at: UtcDateTime | None = Field(description="Redeemable until then (issued + RETAIL_OFFER_DAYS).")
    discount_reason: str = Field(
        description="The policy's rule that set the discount (or why there is none); to keys that /churn refuses "
        "(customer, store) a neutral sentence that does not reveal the churn risk."
    )


class PricedOffers(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_version": "4",
                    "store_id": None,
                    "items": [
                        {
                            "kind": "cross_sell",
                            "product_id": "P0042",
                            "name": "Linen scarf",
                            "category": "accessories",
                            "price": 19.99,
                            "score": 0.81,
                            "reason": "often bought with P0001",
                            "recommended": True,
                            "code": "K7QX-M2PD-4HZA-97TW",
                            "discount_pct": 20.0,
                            "discount_cents": 399,
                            "discount": 3.99,
                            "cap_cents": 399,
                            "max_discount": 3.99,
                            "issued_at": "2026-12-05T09:00:00Z",
                            "expires_at": "2026-12-19T09:00:00Z",
                            "discount_reason": "high risk and value at risk >= 100: 20% retention discount",
                        }
                    ],
                }
            ]
        }
    )

    model_version: str | None = Field(description="The recommender's version; None when it is not loaded.")
    store_id: str | None = Field(description="Always None: offers are for products in stock online.")
    churn_model_version: str | None = Field(
        default=None, description="The churn model behind the discounts; None: no discounts (see `notes`)."
    )
    items: list[PricedOffer] = Field(
        description="Top cross-sell, then up-sell items not already offered, then live offers the customer holds for "
        "products no longer recommended."
    )


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
                {"customer_id": "C00001", "points": 1250, "offers": None, "notes": ["offers: offers unavailable"]}
            ]
        }
    )

    customer_id: str
    points: int | None = Field(
        description="Loyalty points balance; None when loyalty is not available or the role may not see it."
    )
    offers: PricedOffers | None = Field(
        description="Top cross-sell and up-sell items in stock online, each with its discount and code, and the live "
        "offers the customer holds; None: no recommender and no live offer."
    )
    notes: list[str]
