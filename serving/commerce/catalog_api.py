"""`GET /v1/products`: catalogue search for every role (a thin route over `serving.commerce.catalog.search`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from serving.auth import Caller, require
from serving.commerce import catalog
from serving.commerce.api import STOCK_ROLES, Db, documented, domain_errors
from serving.commerce.catalog import ProductPage, Sort, Tier
from serving.commerce.payloads import ID_PATTERN

router = APIRouter(prefix="/v1", tags=["catalogue"])
CATALOGUE_ROLES = (*STOCK_ROLES, "app")
Price = Annotated[float | None, Query(ge=0, le=catalog.MAX_PRICE, description="Currency units (e.g. 19.99).")]


@router.get(
    "/products",
    response_model=ProductPage,
    responses=documented(
        422,
        s422="Malformed or out-of-range parameter, `max_price` below `min_price`, an unknown `in_stock` store, or a "
        "`cursor` this search did not give: the detail names the field and value.",
    ),
)
def search_products(
    engine: Db,
    _caller: Annotated[Caller, Depends(require(*CATALOGUE_ROLES))],
    q: Annotated[
        str | None,
        Query(
            max_length=catalog.MAX_Q,
            description="Words to find in name, description, category and brand (all of them; the last may be "
            "unfinished). With none matching, typo-tolerant matches come back with `fuzzy: true`.",
            examples=["kettle"],
        ),
    ] = None,
    category: Annotated[
        str | None,
        Query(min_length=1, max_length=128, pattern=ID_PATTERN, description="Only this category, any case."),
    ] = None,
    tier: Annotated[Tier | None, Query(description="Only this tier.")] = None,
    min_price: Price = None,
    max_price: Price = None,
    in_stock: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            pattern=ID_PATTERN,
            description="Only products available at this store id, or `online` (the online shop); each item then "
            "carries its `available` units there.",
        ),
    ] = None,
    sort: Annotated[
        Sort | None,
        Query(
            description="relevance (the default with `q`), price (cheapest first), -price, popularity (units sold; "
            "the default without `q`) or rating (average, then number of ratings)."
        ),
    ] = None,
    cursor: Annotated[
        str | None,
        Query(min_length=1, max_length=512, description="`next_cursor` of the previous page, with the same query."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=catalog.MAX_LIMIT, description="Products per page.")] = 20,
) -> ProductPage:
    """Search and filter the catalogue, one page at a time: `{"items": [...], "next_cursor"}`.

    Every page after the first is asked for with the previous page's `next_cursor` and the same parameters; the
    pages together list every match once. Roles: every role (app included).
    """
    with domain_errors():
        return catalog.search(
            engine,
            q,
            category=category,
            tier=tier,
            min_price=min_price,
            max_price=max_price,
            in_stock=in_stock,
            sort=sort,
            cursor=cursor,
            limit=limit,
        )
