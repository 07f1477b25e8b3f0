"""Schemas every endpoint shares; each family's request and response models live in its endpoint module."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ModelStatus(BaseModel):
    name: str
    alias: str
    version: str
    run_id: str


class ErrorItem(BaseModel):
    type: str = Field(description="Machine-readable kind, as in FastAPI's validation errors.")
    loc: list[str | int]
    msg: str
    input: Any = None


class Invalid(BaseModel):
    """422: the field path, message and offending value of each problem."""

    detail: list[ErrorItem]


class Unavailable(BaseModel):
    """503: the service or this model is not ready (loading, not trained, or must be retrained)."""

    detail: str


def invalid(
    field: str, message: str, values: list[Any], kind: str = "value_error", where: str = "body"
) -> dict[str, Any]:
    """An error body shaped like FastAPI's own validation errors, one entry per offending value.

    `where` is the request part holding the field: "body", "query" or "path".
    """
    return {"detail": [{"type": kind, "loc": [where, field], "msg": message, "input": v} for v in values]}


Responses = dict[int | str, dict[str, Any]]
UNAVAILABLE: Responses = {503: {"model": Unavailable, "description": "Not ready, or no usable model of this family."}}
INVALID: Responses = {
    422: {"model": Invalid, "description": "The body is not valid: each problem with its field path."}
}


def invalid_when(rules: str) -> Responses:
    """A 422 documented with the business rules a schema-valid request can still break (JSON Schema cannot say)."""
    return {422: {"model": Invalid, "description": f"Not valid: each problem with its field path. Also {rules}."}}


class CustomerNotScored(BaseModel):
    """A customer in a batch request who has no result: the rest of the batch is answered all the same."""

    customer_id: str
    status: Literal["no_purchases", "unknown_customer"] = Field(
        description="no_purchases: in the customers table, but no purchase the feature store has seen yet (nothing "
        "to score until they buy); unknown_customer: not a customer."
    )


class Recommended(BaseModel):
    """One recommended product, as /recommend and the customer profile answer it."""

    product_id: str
    name: str
    category: str
    price: float
    score: float
    reason: str
