"""The product pages under `/v1/products`: one product, a comparison of 2 to 5, and a product's upgrades.

The database parts come from `serving.commerce.products`; on top of them the recommender's public functions
(`serving.endpoints.recommender.look_up` and `score`, with the product as the cart) give the complements
(cross-sell) and upgrades (up-sell) with their reasons, and the online store's product sentiment features give
the review sentiment. The runtime (models, online store, stock) is optional: without it, or without a recommender,
the suggestions are empty and the sentiment is the scored feedback's, each with a line in `notes`; a product page
never fails for a missing model. Why a model is missing is said in full to operator keys (admin, ops) only.
`product`, `comparison` and `upgrade_options` are the plain functions behind the routes, for pages to call.

Roles: every role (`serving.commerce.api.STOCK_ROLES` and `app`).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlalchemy import Engine

from features.catalog import SENTIMENT_WINDOWS
from serving.auth import Caller, require
from serving.commerce import products
from serving.commerce.api import STOCK_ROLES, documented, domain_errors
from serving.commerce.payloads import ID_PATTERN
from serving.commerce.product_payloads import CompareOut, ProductOut, Sentiment, Suggestion, UpgradesOut
from serving.deps import database
from serving.endpoints import recommender
from serving.endpoints.sections import Notes, Unavailable, models_in, request_runtime
from serving.payloads import Recommended
from serving.runtime import Runtime
from training.recommend.adapter import Mode, UnknownProducts

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["products"])

ROLES = (*STOCK_ROLES, "app")
OPERATORS = ("admin", "ops")
SUGGESTIONS = 5  # complements and upgrades on a product page
RANKED = 50  # up-sell candidates the recommender ranks for /upgrades
WINDOW = max(SENTIMENT_WINDOWS)
REVIEW_FEATURES = (f"sentiment_mean_{WINDOW}d", f"negative_share_{WINDOW}d", f"reviews_{WINDOW}d")

Db = Annotated[Engine, Depends(database)]
Callers = Annotated[Caller, Depends(require(*ROLES))]
ProductIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=ID_PATTERN, examples=["P0001"])]
StoreQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="Stock at this store too, and suggestions in stock there (else online).",
    ),
]


Ranked = tuple[dict[Mode, list[Recommended]], str | None]  # per mode, and the recommender's version
NOTHING: Ranked = ({}, None)


def _asked(product_id: str, store_id: str | None, mode: Mode, k: int) -> recommender.RecommendRequest:
    return recommender.RecommendRequest(customer_id=None, cart=[product_id], store_id=store_id, mode=mode, k=k)


def ranked(rt: Runtime | None, product_id: str, store_id: str | None, modes: dict[Mode, int], notes: Notes) -> Ranked:
    """The recommender's answers for the product as a one-item cart, per mode (k each), and its version.

    A store the stock does not track falls back to stock online (with a note); a missing recommender or a product it
    does not know is `Unavailable`.
    """
    models = models_in(rt)
    asked = {mode: _asked(product_id, store_id, mode, k) for mode, k in modes.items()}
    first = next(iter(asked.values()))
    try:
        try:
            found = recommender.look_up(models, first)
        except KeyError:  # a store the stock does not track
            notes.lines.append(f"suggestions: store {store_id!r} has no stock data; in stock online instead")
            asked = {mode: _asked(product_id, None, mode, k) for mode, k in modes.items()}
            found = recommender.look_up(models, asked[next(iter(asked))])
        answers = {mode: recommender.score(models, request, found) for mode, request in asked.items()}
    except HTTPException as exc:  # the runtime's 503: no recommender loaded
        raise Unavailable(str(exc.detail), public=False) from None
    except UnknownProducts:
        raise Unavailable(
            f"the recommender (version {found.adapter.version}) does not know {product_id!r} yet (it learns new "
            "products when it is trained again)"
        ) from None
    for mode, answer in answers.items():
        if answer.note:
            notes.lines.append(f"{mode}: {answer.note}")
    return {mode: answer.items for mode, answer in answers.items()}, str(found.adapter.version)


def review_sentiment(rt: Runtime | None, ids: list[str]) -> dict[str, Sentiment]:
    """Per product with reviews in the window: the online store's `product_sentiment` features."""
    models = models_in(rt)
    values = models.store.get_online_features(
        features=[f"product_sentiment:{name}" for name in REVIEW_FEATURES],
        entity_rows=[{"product_id": p} for p in ids],
    ).to_dict()
    mean, negative, count = (values[name] for name in REVIEW_FEATURES)
    return {
        p: Sentiment(
            source="reviews", count=int(count[i]), mean_score=round(mean[i], 4), negative_share=round(negative[i], 4)
        )
        for i, p in enumerate(ids)
        if count[i] and mean[i] is not None and negative[i] is not None
    }


def _sentiment(
    rt: Runtime | None, ids: list[str], feedback: dict[str, Sentiment | None], notes: Notes
) -> dict[str, Any]:
    """Review sentiment where the online store has it, else the scored feedback's; notes say which."""
    none: dict[str, Sentiment] = {}
    reviews = notes.fill("sentiment", review_sentiment, rt, ids, default=none)
    chosen = {p: reviews.get(p) or feedback.get(p) for p in ids}
    used = {s.source for s in chosen.values() if s is not None}
    if used:
        notes.lines.append(
            "sentiment: "
            + " and ".join(
                {"reviews": f"reviews of the last {WINDOW} days (online features)", "feedback": "scored feedback"}[u]
                for u in sorted(used, reverse=True)
            )
        )
    missing = [p for p in ids if chosen[p] is None]
    if missing:
        notes.lines.append(f"sentiment: nothing scored yet for {', '.join(missing)}")
    return chosen


def _suggestions(items: list[Recommended]) -> list[Suggestion]:
    return [
        Suggestion(product_id=i.product_id, name=i.name, category=i.category, price=i.price, reason=i.reason)
        for i in items
    ]


def comparison(engine: Engine, rt: Runtime | None, ids: list[str], store_id: str | None, detailed: bool) -> CompareOut:
    """`products.compare` with review sentiment where the online store has it; raises the domain's errors."""
    answer = products.compare(engine, ids, store_id)
    notes = Notes(detailed)
    chosen = _sentiment(rt, ids, {p.product_id: p.sentiment for p in answer.products}, notes)
    for product in answer.products:
        product.sentiment = chosen[product.product_id]
    answer.notes = notes.lines
    return answer


def product(engine: Engine, rt: Runtime | None, product_id: str, store_id: str | None, detailed: bool) -> ProductOut:
    """`products.detail` with review sentiment and the recommender's complements and upgrades (empty, with a note,
    without models); raises the domain's errors for an unknown product or store."""
    answer = products.detail(engine, product_id, store_id)
    notes = Notes(detailed)
    answer.sentiment = _sentiment(rt, [product_id], {product_id: answer.sentiment}, notes)[product_id]
    modes: dict[Mode, int] = {"cross_sell": SUGGESTIONS, "up_sell": SUGGESTIONS}
    found, version = notes.fill("suggestions", ranked, rt, product_id, store_id, modes, notes, default=NOTHING)
    answer.complements = _suggestions(found.get("cross_sell", []))
    answer.upgrades = _suggestions(found.get("up_sell", []))
    answer.model_version = version
    answer.notes = notes.lines
    return answer


def upgrade_options(
    engine: Engine, rt: Runtime | None, product_id: str, store_id: str | None, limit: int, detailed: bool
) -> UpgradesOut:
    """`products.upgrades` ordered within each tier by the recommender's up-sell ranking when one is loaded."""
    products.check(engine, product_id, store_id)  # 404 / 422 before asking the models
    notes = Notes(detailed)
    found, version = notes.fill(
        "ranking", ranked, rt, product_id, store_id, {"up_sell": RANKED}, notes, default=NOTHING
    )
    order = None
    if version is not None:
        order = {item.product_id: (i, item.reason) for i, item in enumerate(found.get("up_sell", []))}
    answer = products.upgrades(engine, product_id, store_id, order, limit, version)
    if notes.lines:
        answer.note = "; ".join([answer.note, *notes.lines])
    return answer


@router.get(
    "/products/compare",
    response_model=CompareOut,
    responses=documented(
        404,
        422,
        s404="A product named in `ids` does not exist (the detail names it).",
        s422="`ids` is not 2 to 5 distinct product ids separated by commas, or `store_id` names no store.",
    ),
)
def compare_products(
    request: Request,
    engine: Db,
    caller: Callers,
    ids: Annotated[
        str,
        Query(
            min_length=1,
            max_length=products.MAX_IDS_CHARS,
            description="2 to 5 distinct product ids separated by commas.",
            examples=["P0001,P0002"],
        ),
    ],
    store_id: StoreQuery = None,
) -> CompareOut:
    """Products side by side: every specification aligned by name (null where a product has none, `differs` where
    the values are not all the same), price and difference to the first product, rating, sentiment, stock online
    and at `store_id`. Roles: every role."""
    with domain_errors():
        return comparison(engine, request_runtime(request), products.parse_ids(ids), store_id, caller.role in OPERATORS)


@router.get(
    "/products/{product_id}",
    response_model=ProductOut,
    responses=documented(404, 422, s404="The product does not exist.", s422="Malformed, or `store_id` names no store."),
)
def product_page(
    product_id: ProductIdPath, request: Request, engine: Db, caller: Callers, store_id: StoreQuery = None
) -> ProductOut:
    """A product: specifications, price, tier, brand, description, stock per store and online, rating, review
    sentiment, and its complements (cross-sell) and upgrades (up-sell) with reasons, in stock at `store_id` (else
    online). Without the models the suggestions are empty and `notes` says why; only an unknown product (404) or
    store (422) fails. Roles: every role."""
    with domain_errors():
        return product(engine, request_runtime(request), product_id, store_id, caller.role in OPERATORS)


@router.get(
    "/products/{product_id}/upgrades",
    response_model=UpgradesOut,
    responses=documented(404, 422, s404="The product does not exist.", s422="Malformed, or `store_id` names no store."),
)
def product_upgrades(
    product_id: ProductIdPath,
    request: Request,
    engine: Db,
    caller: Callers,
    store_id: StoreQuery = None,
    limit: Annotated[int, Query(ge=1, le=50, description="At most this many upgrades.")] = 10,
) -> UpgradesOut:
    """The higher tiers (good < better < best) of the same need (same category, and same `type` where the product
    has one), each with the specifications it adds or changes, its extra cost and rating; only those in stock at
    `store_id` when given. By tier, then the recommender's up-sell ranking where a recommender is loaded (its
    reasons), then price; without one the catalogue rule alone (`ranked_by: catalogue`, `note` says why).
    Roles: every role."""
    with domain_errors():
        return upgrade_options(engine, request_runtime(request), product_id, store_id, limit, caller.role in OPERATORS)
