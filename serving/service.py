"""The BentoML service: composes one endpoint module per model family, the customer profile (an endpoint module over
the families and the commerce domain) and the order API; knows no model internals.

Run it with `retail serve` (or `bentoml serve serving.service:RetailService` with RETAIL_WORKSPACE set).
"""

from __future__ import annotations

import logging
import threading

import bentoml
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

from retail import db
from retail.settings import get_settings
from retail.workspace import Workspace
from serving import faults, guard
from serving.commerce import push, sales_data, webhooks
from serving.commerce.api import router as orders_router
from serving.commerce.app import allowed_methods
from serving.commerce.cart_api import router as cart_router
from serving.commerce.catalog_api import router as catalog_router
from serving.commerce.checkout_api import router as checkout_router
from serving.commerce.feedback_api import router as feedback_router
from serving.commerce.order_list_api import router as order_list_router
from serving.commerce.stock import Stock
from serving.endpoints.cart_recs import router as cart_recs_router
from serving.endpoints.models import router as models_router
from serving.endpoints.products import router as products_router
from serving.endpoints.profile import router as profile_router
from serving.route_metrics import label_by_route
from serving.runtime import Runtime
from serving.web import app as web
from training import families

log = logging.getLogger(__name__)

app = FastAPI(
    title="Retail ML service",
    version="0.1.0",
    description=(
        "Recommendations, churn scores, forecasts and sentiment from the champion models in the MLflow registry, "
        "and the order API under /v1. Every endpoint needs "
        "`Authorization: Bearer KEY` (`retail keys create --role ROLE`); health, metrics and these docs do not."
    ),
)
BATCHERS: dict[str, type] = {}  # family -> a BentoML service with batchable APIs its endpoint calls
for _name in families.names():
    _module = families.endpoint_module(_name)
    app.include_router(_module.router)
    if hasattr(_module, "batcher"):
        BATCHERS[_name] = _module.batcher
app.include_router(orders_router)
app.include_router(cart_router)
app.include_router(feedback_router)
app.include_router(catalog_router)  # GET /v1/products (catalogue search)
app.include_router(checkout_router)
app.include_router(order_list_router)
app.include_router(profile_router)
app.include_router(cart_recs_router)  # GET /v1/carts/{cart_id}/recommendations
app.include_router(products_router)  # GET /v1/products/{id}, /compare, /{id}/upgrades
web.install(app)  # the staff pages under /ui/ (session cookies, not keys)
guard.install(app)  # key check, body limit and rate limits before FastAPI reads a body
faults.install(app)  # the database or online store down: 503 + Retry-After, never 500


@app.exception_handler(HTTPException)
async def _body_not_json(request: Request, exc: HTTPException) -> Response:
    """FastAPI answers a body it cannot even decode with a bare 400; it is a 422 like every other bad body."""
    if web.is_page(request):
        return web.error_page(request, exc.status_code, exc.detail)
    if exc.status_code == 400:
        problem = {"type": "json_invalid", "loc": ["body"], "msg": str(exc.detail), "input": None}
        return JSONResponse(status_code=422, content={"detail": [problem]})
    if exc.status_code == 405:  # `Allow` names every method of the path (Starlette's, the first route's only)
        return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": allowed_methods(request)})
    return await http_exception_handler(request, exc)


@app.exception_handler(RequestValidationError)
async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    """A page's bad query or form: a page naming the field and value; the API's stays FastAPI's JSON 422."""
    if web.is_page(request):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']} ({e.get('input')!r})" for e in exc.errors()
        )
        return web.error_page(request, 422, problems)
    return await request_validation_exception_handler(request, exc)


@app.exception_handler(Exception)
async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    if (outage := faults.answer(exc)) is not None:  # a backing service down outside a route (the guard's key look-up)
        return outage
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse(status_code=500, content={"detail": "internal error; see the service log"})


app.include_router(models_router)  # GET /models, POST /models/reload (serving.endpoints.models)


class Retail:
    """Loads models and the feature store in the background; /readyz turns true when both are in."""

    def __init__(self) -> None:
        settings = get_settings()
        guard.rates(settings)  # a bad RETAIL_RATE_LIMITS stops the start, named (the guard is built at the first call)
        ws = Workspace.at(settings.workspace)
        self.runtime = Runtime(ws, settings, Stock(ws, database_url=db.url(ws, settings)))
        app.state.runtime = self.runtime
        app.state.db_engine = db.engine(ws, settings)  # migrated here, before the first request
        self.stop_webhooks = webhooks.start(app.state.db_engine)  # outbox -> registered webhooks, in the background
        sales_data.warm(app.state.db_engine, ws)  # the sales report's history, read before the first page asks
        if settings.push_features and (ws.feature_repo / "feature_store.yaml").exists():
            app.state.pusher = push.Pusher(ws, app.state.db_engine)  # sales -> the customer's online features
            self.stop_push = app.state.pusher.start()
        app.state.batchers = {name: getattr(self, f"batcher_{name}") for name in BATCHERS}
        threading.Thread(target=self.runtime.start, name="load-models", daemon=True).start()

    def __is_ready__(self) -> bool:
        return self.runtime.ready.is_set()

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        """Stop the push and webhook threads; pushes not made yet stay queued in the database for the next start."""
        for stop in (getattr(self, "stop_push", None), self.stop_webhooks):
            if stop is not None:
                stop()


label_by_route()  # /metrics by route template: BentoML builds its metrics middleware once it has imported this module
for _name, _batcher in BATCHERS.items():  # composed services: BentoML runs each and batches calls to it
    setattr(Retail, f"batcher_{_name}", bentoml.depends(_batcher))
RetailService = bentoml.service(name="retail", traffic={"timeout": 60})(bentoml.asgi_app(app, path="/")(Retail))
