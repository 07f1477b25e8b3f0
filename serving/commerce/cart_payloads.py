"""Request and response models of the cart API (pydantic, with examples for the OpenAPI page).

A cart answer shows each line at the price seen when it was added (`unit_price`) beside the product's price now
and what the cart's store has available, and lists every difference in `changes`, so a client can show a changed
price or a shortage before checkout rather than have it applied silently.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.commerce.payloads import Body, Channel, Count, Id, UtcDateTime

MAX_LINES = 100  # distinct products in one cart
MAX_QUANTITY = 999  # units of one product in one cart
IF_MATCH_PATTERN = r'^(W/"[0-9]{1,9}"|"[0-9]{1,9}"|[0-9]{1,9})$'


class CartLineIn(Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"product_id": "P0001", "quantity": 2, "channel": "web"}]}
    )

    product_id: Id
    quantity: Count = Field(
        ge=1, le=MAX_QUANTITY, description="The line's quantity from now on (not added to it); remove with DELETE."
    )
    channel: Channel | None = Field(None, description="Where the change was made; the cart's `channel` becomes it.")


class CartIn(Body):
    """A new guest cart, or the cart's store and channel (PUT replaces both: an omitted one becomes null)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"store_id": "S01", "channel": "web"}]})

    store_id: Id | None = Field(None, description="The store that serves the cart (stock shown there); null: online.")
    channel: Channel | None = Field(None, description="Where the cart is being used now.")


class MergeIn(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"customer_id": "C00001"}]})

    customer_id: Id = Field(description="The customer who signed in: the guest cart's lines move into their cart.")


class CartLineOut(BaseModel):
    product_id: str
    name: str
    quantity: int
    unit_price: float = Field(description="The price seen when the line was added: what the subtotal counts.")
    line_total: float = Field(description="quantity x unit_price.")
    current_price: float = Field(description="The product's price now; checkout charges this one.")
    available: int = Field(description="Units available at the cart's store (online stores' total when none).")
    added_at: UtcDateTime


class CartChange(BaseModel):
    """A line whose price moved since it was added, or that the cart's store cannot fill."""

    product_id: str
    kind: Literal["price", "stock"]
    detail: str = Field(examples=["price of 'P0001' changed from 10.00 to 12.50"])
    unit_price: float = Field(description="The price seen when added.")
    current_price: float
    quantity: int
    available: int


class CartOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cart_id": "q3VnX0Jw8Z1c4sQb2Lr7YtEo",
                    "customer_id": "C00001",
                    "store_id": "S01",
                    "channel": "web",
                    "version": 3,
                    "merged_into": None,
                    "lines": [
                        {
                            "product_id": "P0001",
                            "name": "Linen shirt",
                            "quantity": 2,
                            "unit_price": 10.0,
                            "line_total": 20.0,
                            "current_price": 12.5,
                            "available": 4,
                            "added_at": "2026-06-01T10:00:00Z",
                        }
                    ],
                    "items": 2,
                    "subtotal": 20.0,
                    "current_subtotal": 25.0,
                    "changes": [
                        {
                            "product_id": "P0001",
                            "kind": "price",
                            "detail": "price of 'P0001' changed from 10.00 to 12.50",
                            "unit_price": 10.0,
                            "current_price": 12.5,
                            "quantity": 2,
                            "available": 4,
                        }
                    ],
                    "created_at": "2026-06-01T10:00:00Z",
                    "updated_at": "2026-06-01T10:05:00Z",
                }
            ]
        }
    )

    cart_id: str = Field(description="Unguessable: whoever holds a guest cart's id may use it.")
    customer_id: str | None = Field(description="Null for a guest cart.")
    store_id: str | None = Field(description="The store serving the cart; null: online.")
    channel: str | None
    version: int = Field(description="Rises by one with every change; send it back as `If-Match` to change the cart.")
    merged_into: str | None = Field(description="Set on a guest cart merged into a customer's cart (then it is empty).")
    lines: list[CartLineOut]
    items: int = Field(description="Units in the cart.")
    subtotal: float = Field(description="The lines at the prices seen.")
    current_subtotal: float = Field(description="The lines at today's prices.")
    changes: list[CartChange] = Field(description="Lines whose price changed or that the store cannot fill.")
    created_at: UtcDateTime
    updated_at: UtcDateTime


class StaleCart(BaseModel):
    """409 to a write naming an old version (or another conflict): the cart as it is now, to show and retry from."""

    detail: str = Field(examples=["cart 'q3Vn...' is at version 4, not 3: reload it and apply your change again"])
    cart: CartOut | None = Field(None, description="The current cart (for a stale If-Match).")


class MergedCart(BaseModel):
    """410 to a change of a guest cart that was merged: use the customer's cart it went into."""

    detail: str = Field(examples=["cart 'q3Vn...' was merged into cart 'Zx81...'; use that cart"])
    merged_into: str
