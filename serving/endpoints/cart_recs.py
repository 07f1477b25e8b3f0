"""GET /v1/carts/{cart_id}/recommendations: cross-sell for the cart and up-sell for its lines, in stock at its store.

Ranked by the recommender's public functions (`serving.endpoints.recommender.look_up` and `score`), so an item is
what `POST /recommend` would answer for the cart's customer (or a guest), its products and its store. The
customer's features and the stock are read once for both kinds. A store the stock does not track falls back to
what is in stock online, with a note; cart products newer than the model are left out of its input, with a note.
No recommender loaded (or the order API running without the model service) answers no items and a note, never an
error: a cart page shows without its suggestions. Why the model is missing is said in full to admin and ops keys
only; the others read a neutral note and the reason goes to the log.

Roles: those of the cart API (`serving.commerce.cart_api`), with its ownership rules.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from serving.commerce import carts
from serving.commerce.api import Db, documented, domain_errors
from serving.commerce.cart_api import Callers, CartIdPath, access
from serving.commerce.cart_payloads import CartOut
from serving.endpoints import recommender
from serving.endpoints.sections import Unavailable, family, models_in
from serving.payloads import Recommended
from serving.runtime import Runtime
from training.recommend.adapter import KEY

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["carts"])

Kind = Literal["cross_sell", "up_sell"]
KINDS: tuple[Kind, ...] = ("cross_sell", "up_sell")
OPERATORS = ("admin", "ops")
UNAVAILABLE = "recommendations unavailable"
UPGRADE = "upgrade from "


class CartItem(Recommended):
    kind: Kind = Field(description="cross_sell: goes with the cart; up_sell: a higher tier of a line's product.")
    upgrades: str | None = Field(None, description="For up-sell: the cart line's product it upgrades, when known.")


class CartRecommendations(BaseModel):
    cart_id: str
    version: int = Field(description="The cart version these were made for.")
    model_version: str | None = Field(description="The recommender's version; null when none answered.")
    store_id: str | None = Field(description="Where the items are in stock; null: online.")
    items: list[CartItem]
    notes: list[str] = Field(description="Why items are missing or fewer: no model, a store without stock data, ...")


def _models(rt: Runtime | None) -> Runtime:
    """The runtime when a recommender is loaded, else `Unavailable` saying why."""
    models = models_in(rt)
    family(models.adapter, KEY)  # the runtime's 503: no recommender version, or why it did not load
    return models


def _upgrades(reason: str, names: dict[str, str]) -> str | None:
    """The cart line an up-sell item upgrades, from its reason ("upgrade from NAME") when one line has NAME."""
    return names.get(reason.removeprefix(UPGRADE)) if reason.startswith(UPGRADE) else None


def _rank(rt: Runtime, cart: CartOut, k: int, notes: list[str]) -> CartRecommendations:
    adapter = rt.adapter(KEY)
    known = set(adapter.product_ids)
    in_cart = [line.product_id for line in cart.lines]
    unknown = [p for p in in_cart if p not in known]
    if unknown:
        notes.append(f"products the recommender does not know yet are left out of its input: {', '.join(unknown)}")
    store_id = cart.store_id
    asked = {
        kind: recommender.RecommendRequest(
            customer_id=cart.customer_id, cart=[p for p in in_cart if p in known], store_id=store_id, mode=kind, k=k
        )
        for kind in KINDS
    }
    try:
        found = recommender.look_up(rt, asked["cross_sell"])  # with the products bought, for cross-sell
    except KeyError:  # `UnknownStore`: a store the stock does not track
        notes.append(f"store {store_id!r} has no stock data; in stock online instead")
        store_id = None
        asked = {kind: request.model_copy(update={"store_id": None}) for kind, request in asked.items()}
        found = recommender.look_up(rt, asked["cross_sell"])
    names = {line.name: line.product_id for line in cart.lines}
    items: list[CartItem] = []
    for kind, request in asked.items():
        answer = recommender.score(rt, request, found)
        if answer.note:
            notes.append(f"{kind}: {answer.note}")
        taken = {item.product_id for item in items} | set(in_cart)
        items += [
            CartItem(
                kind=kind, upgrades=_upgrades(item.reason, names) if kind == "up_sell" else None, **item.model_dump()
            )
            for item in answer.items
            if item.product_id not in taken
        ]
    return CartRecommendations(
        cart_id=cart.cart_id,
        version=cart.version,
        model_version=str(found.adapter.version),
        store_id=store_id,
        items=items,
        notes=notes,
    )


def recommend(rt: Runtime | None, cart: CartOut, k: int, detailed: bool = True) -> CartRecommendations:
    """Up to `k` cross-sell then `k` up-sell items for the cart, none already in it; empty with a note when no
    model can answer. `detailed`: say why the model is missing (operators), else a neutral note."""
    notes: list[str] = []
    if cart.merged_into is not None:
        notes.append(f"cart was merged into cart {cart.merged_into!r}: ask for that cart's recommendations")
    else:
        try:
            return _rank(_models(rt), cart, k, notes)
        except Unavailable as exc:
            if not (exc.public or detailed):
                log.warning("cart recommendations unavailable: %s", exc)
            notes.append(str(exc) if exc.public or detailed else UNAVAILABLE)
        except Exception as exc:
            log.exception("cart %s: recommendations failed", cart.cart_id)
            notes.append(f"failed ({type(exc).__name__}); see the service log" if detailed else UNAVAILABLE)
    return CartRecommendations(
        cart_id=cart.cart_id, version=cart.version, model_version=None, store_id=cart.store_id, items=[], notes=notes
    )


@router.get(
    "/carts/{cart_id}/recommendations",
    response_model=CartRecommendations,
    responses=documented(404, 422, s404="The cart does not exist."),
)
def cart_recommendations(
    cart_id: CartIdPath,
    request: Request,
    engine: Db,
    caller: Callers,
    k: Annotated[int, Query(ge=1, le=20, description="At most this many of each kind.")] = 5,
) -> CartRecommendations:
    """Cross-sell for the cart (what goes with it) and up-sell for its lines (a higher tier of the same need),
    in stock at the cart's store (online when it has none), each with its reason and kind; never a product
    already in the cart. No recommender loaded: no items and a note. Roles: admin, ops, sales_rep, app, store,
    customer, with the cart API's ownership rules."""
    with domain_errors():
        cart = carts.get_cart(engine, cart_id, access(caller))
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    return recommend(runtime, cart, k, caller.role in OPERATORS)
