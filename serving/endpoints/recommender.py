"""POST /recommend: top-k products for a customer and/or cart, in stock at the store (or online), with reasons.

`look_up` (the blocking reads) and `score` (the ranking) are plain functions: the customer profile and offers
call them too; the route adds auth, runs the reads in a thread and answers unknown stores and products as 422s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from features import store as feature_store
from serving.auth import AUTH_RESPONSES, Caller, check_customer, check_store, require
from serving.commerce.payloads import Count
from serving.commerce.stock import UnknownStore
from serving.payloads import UNAVAILABLE, Recommended, invalid, invalid_when
from serving.runtime import Runtime, runtime
from training.recommend.adapter import KEY, Mode, RecommenderAdapter, UnknownProducts

router = APIRouter(tags=["recommender"])
# a customer key only for its own customer_id; a store key only for its own store (or online)
ROLES = ("admin", "ops", "marketing", "sales_rep", "store", "app", "customer")
CALLERS = require(*ROLES)


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
    mode: Mode = Field("all", description="all: next purchases; cross_sell: never bought; up_sell: a higher tier.")
    k: Count = Field(10, ge=1, le=100, description="How many products.")


class RecommendResponse(BaseModel):
    model_version: str
    mode: Mode
    customer_id: str | None
    customer_known: bool
    store_id: str | None
    note: str = Field("", description="Set when the answer falls back (unknown customer, guest, nothing to upgrade).")
    items: list[Recommended]


@dataclass
class Lookups:
    """What a recommendation reads besides the model: the customer's online features and products bought, and
    the stock mask of the store; `adapter` is the model they were read for (its product order)."""

    adapter: RecommenderAdapter
    features: dict[str, Any] | None
    bought: list[str]
    available: Any


def look_up(rt: Runtime, request: RecommendRequest) -> Lookups:
    """This customer's features and products bought (Feast), and the stock mask; blocking I/O.

    Raises `UnknownStore` for a store the stock does not know.
    """
    adapter = rt.adapter(KEY)
    features = None
    if request.customer_id is not None and adapter.knows(request.customer_id):  # only this customer's row is read
        service = rt.feature_service(adapter.feature_service)
        names = list(adapter.feature_names)
        row = feature_store.online_row(rt.store, service, "customer_id", request.customer_id, names)
        features = dict(zip(names, row, strict=True))
    bought: list[str] = []
    if request.customer_id is not None and request.mode == "cross_sell":  # pushed by orders since the build
        bought = feature_store.products_bought(rt.store, request.customer_id)
    available = rt.stock.available(request.store_id, adapter.product_ids, adapter.version)
    return Lookups(adapter, features, bought, available)


def score(rt: Runtime, request: RecommendRequest, found: Lookups | None = None) -> RecommendResponse:
    """Top-k products, in stock at the store (or online), each with a reason.

    `found`: the lookups already made for this customer and store (`look_up`), else they are made here. Raises
    `UnknownStore` and `UnknownProducts` (a cart product the model does not know).
    """
    if found is None:
        found = look_up(rt, request)
    adapter = found.adapter
    answer = adapter.recommend(
        request.customer_id, request.cart, request.mode, request.k, found.available, found.features, found.bought
    )
    return RecommendResponse(
        model_version=adapter.version,
        mode=request.mode,
        customer_id=request.customer_id,
        customer_known=answer.customer_known,
        store_id=request.store_id,
        note=answer.note,
        items=[Recommended(**item) for item in answer.items],  # type: ignore[arg-type]
    )


@router.post(
    "/recommend",
    response_model=RecommendResponse,
    responses={**invalid_when("a store or cart product the service does not know"), **UNAVAILABLE, **AUTH_RESPONSES},
)
async def recommend(
    request: RecommendRequest, rt: Annotated[Runtime, Depends(runtime)], caller: Annotated[Caller, Depends(CALLERS)]
) -> RecommendResponse | JSONResponse:
    """Top-k products, in stock at the store (or online), each with a reason; unknown stores or products are 422."""
    check_customer(caller, request.customer_id)
    if request.store_id is not None:
        check_store(caller, request.store_id)
    try:
        # the online store and the stock's database in a thread: a slow read never holds up the event loop (and
        # every other request); the ranking, a few ms of numpy, stays on the loop (no GIL contention in the pool)
        found = await run_in_threadpool(look_up, rt, request)
        return score(rt, request, found)
    except UnknownStore as exc:
        return JSONResponse(status_code=422, content=invalid("store_id", "unknown store", [exc.store_id]))
    except UnknownProducts as exc:
        return JSONResponse(status_code=422, content=invalid("cart", "unknown product", exc.product_ids))
