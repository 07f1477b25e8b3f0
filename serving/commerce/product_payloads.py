"""Answers of the product pages: one product with its specifications, stock, rating and sentiment; a comparison of
2 to 5 products row by row; the upgrades of a product. Money in currency units (`payloads.money`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Spec(BaseModel):
    name: str = Field(examples=["warranty"])
    value: str = Field(examples=["2 years"])


class StoreStock(BaseModel):
    store_id: str
    name: str
    kind: str = Field(description="online | store")
    available: int = Field(description="On hand less reserved.")


class Availability(BaseModel):
    online: int = Field(description="Available at the online shop(s).")
    stores: list[StoreStock] = Field(description="Every store that keeps the product, online shops included.")
    store_id: str | None = Field(None, description="The store asked about (`store_id`), if any.")
    at_store: int | None = Field(None, description="Available at `store_id`; null when none was asked.")


class Rating(BaseModel):
    count: int = Field(description="Reviews and rated feedback counted.")
    average: float | None = Field(description="Mean stars (1-5), two decimals; null without a rating.")


class Sentiment(BaseModel):
    source: Literal["reviews", "feedback"] = Field(
        description="reviews: the online store's product sentiment features (reviews of the last 365 days scored "
        "by the sentiment model); feedback: the scored feedback in the order database."
    )
    count: int = Field(description="Texts scored.")
    mean_score: float = Field(description="Mean P(positive), 0-1.")
    negative_share: float = Field(description="Share of texts scored negative.")


class Suggestion(BaseModel):
    """A complement (cross-sell) or an upgrade (up-sell), as the recommender ranks it."""

    product_id: str
    name: str
    category: str
    price: float
    reason: str


class ProductOut(BaseModel):
    product_id: str
    name: str
    category: str | None
    brand: str | None
    tier: str | None = Field(description="good < better < best; null when the data has none.")
    description: str | None
    price: float
    specifications: list[Spec] = Field(description="In the data's order.")
    availability: Availability
    rating: Rating
    sold_units: int
    sentiment: Sentiment | None = Field(description="Null when nothing about the product was scored (see `notes`).")
    complements: list[Suggestion] = Field(description="Cross-sell: bought with it; empty without a recommender.")
    upgrades: list[Suggestion] = Field(description="Up-sell: a higher tier of its category; empty without one.")
    model_version: str | None = Field(None, description="The recommender that ranked the suggestions.")
    notes: list[str] = Field(description="Why a section is empty or where it comes from.")


class CompareProduct(BaseModel):
    product_id: str
    name: str
    category: str | None
    brand: str | None
    tier: str | None
    price: float
    price_difference: float = Field(description="This price less the first product's.")
    rating: Rating
    sentiment: Sentiment | None
    available_online: int
    available_at_store: int | None = Field(description="At `store_id`; null when none was asked.")


class CompareRow(BaseModel):
    name: str
    values: list[str | None] = Field(description="One per product, in the order asked; null: the product has none.")
    differs: bool


class CompareOut(BaseModel):
    store_id: str | None
    products: list[CompareProduct]
    specifications: list[CompareRow] = Field(description="Every specification of any product, aligned by name.")
    notes: list[str]


class Added(BaseModel):
    name: str
    value: str = Field(description="The upgrade's value.")
    was: str | None = Field(description="The product's value; null when it has none.")


class Upgrade(BaseModel):
    product_id: str
    name: str
    brand: str | None
    tier: str
    price: float
    extra_cost: float = Field(description="This price less the product's.")
    rating: Rating
    available_online: int
    available_at_store: int | None
    adds: list[Added] = Field(description="Specifications that differ from the product's or that it lacks.")
    reason: str


class UpgradesOut(BaseModel):
    product_id: str
    tier: str | None
    price: float
    store_id: str | None = Field(description="Only upgrades in stock there, when given.")
    ranked_by: Literal["recommender", "catalogue"]
    model_version: str | None
    items: list[Upgrade]
    note: str = Field("", description="Why the list is empty or how it was ordered.")
