"""The BentoML service: thin endpoints that validate, fetch online features, call the model, shape the answer.

Run it with `retail serve` (or `bentoml serve serving.service:RetailService` with RETAIL_WORKSPACE set).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import bentoml
import numpy as np
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from features import store as feature_store
from features.repo.definitions import CHURN_SERVICE, RECOMMENDER_CUSTOMER_FEATURES, RECOMMENDER_SERVICE
from retail.settings import get_settings
from retail.workspace import Workspace
from serving.models import ModelHub, ModelMissing
from serving.schemas import (
    ChurnRequest,
    ChurnResponse,
    ChurnScore,
    ModelStatus,
    Recommended,
    RecommendRequest,
    RecommendResponse,
    RiskBand,
)
from serving.stock import Stock, UnknownStore
from training.churn.model import MODEL_INPUT
from training.recommend.pyfunc import StaleModel, recommender_of
from training.recommend.recommender import UnknownProducts

log = logging.getLogger(__name__)
EPOCH = pd.Timestamp("1970-01-01")
SERVED_MODELS = ("churn", "recommender")

app = FastAPI(
    title="Retail ML service", version="0.1.0", description="Recommendations and churn scores from the champion models."
)


@app.exception_handler(Exception)
async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse(status_code=500, content={"detail": "internal error; see the service log"})


def risk_band(p: float) -> RiskBand:
    return "high" if p >= 0.6 else "medium" if p >= 0.3 else "low"


@bentoml.service(name="retail", traffic={"timeout": 60})
@bentoml.asgi_app(app, path="/")
class RetailService:
    """Loads models and the feature store in the background; /readyz turns true when both are in."""

    def __init__(self) -> None:
        settings = get_settings()
        self.ws = Workspace.at(settings.workspace)
        self.hub = ModelHub(self.ws, settings, SERVED_MODELS)
        self.store: Any = None  # feast.FeatureStore, loaded in the background
        self.recommender_features: Any = None
        self.stock = Stock(self.ws)
        self.load_error: str | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._load, name="load-models", daemon=True).start()

    def _load(self) -> None:
        try:
            self.store = feature_store.feature_store(self.ws)
            self.recommender_features = self.store.get_feature_service(RECOMMENDER_SERVICE)
            meta = self.ws.read_meta()
            self.as_of = pd.Timestamp(meta.get("features_as_of") or pd.Timestamp.now().floor("D"))
            self.hub.load()
            self.stock.refresh(force=True)
            feature_store.online_features(self.store, CHURN_SERVICE, "customer_id", ["warm-up"])
            self.ready.set()
            log.info("service ready: features as of %s", self.as_of.date())
        except Exception as exc:  # reported through /readyz and 503s, not a crash loop
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.exception("loading models or features failed")

    def __is_ready__(self) -> bool:
        return self.ready.is_set()

    def _require_ready(self) -> None:
        if not self.ready.is_set():
            raise HTTPException(status_code=503, detail=self.load_error or "models and features are loading")

    def _model(self, name: str):
        self._require_ready()
        try:
            return self.hub.get(name)
        except ModelMissing as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None

    @app.get("/models", response_model=list[ModelStatus])
    def models(self) -> list[ModelStatus]:
        """Which registered model versions are serving."""
        self._require_ready()
        return self.hub.statuses()

    @app.post("/models/reload", response_model=list[ModelStatus])
    def reload(self) -> list[ModelStatus]:
        """Load the current champions from the registry without a restart."""
        self._require_ready()
        return self.hub.load()

    @app.post("/churn", response_model=ChurnResponse)
    def churn(self, request: ChurnRequest) -> ChurnResponse:
        """Churn probability and risk band per customer, from their online features."""
        loaded = self._model("churn")
        ids = request.customer_ids
        frame = feature_store.online_features(self.store, CHURN_SERVICE, "customer_id", ids)
        known = frame[MODEL_INPUT[1:]].notna().any(axis=1)
        if not known.all():
            unknown = sorted(set(frame.loc[~known, "customer_id"]))
            raise HTTPException(
                status_code=404,
                detail=[{"loc": ["body", "customer_ids"], "msg": "unknown customer", "input": u} for u in unknown],
            )
        frame["as_of_day"] = (self.as_of - EPOCH) / pd.Timedelta(days=1)
        probs = loaded.model.predict(frame[MODEL_INPUT].astype("float64"))["churn_probability"].to_numpy()
        scores = [
            ChurnScore(customer_id=c, churn_probability=float(p), risk_band=risk_band(float(p)))
            for c, p in zip(ids, probs, strict=True)
        ]
        return ChurnResponse(
            model_version=loaded.status.version, features_as_of=f"{self.as_of:%Y-%m-%d}", scores=scores
        )

    @app.post("/recommend", response_model=RecommendResponse)
    async def recommend(self, request: RecommendRequest) -> RecommendResponse:
        """Top-k products for a customer and/or cart, in stock at the store (or online), each with a reason."""
        loaded = self._model("recommender")
        try:
            recommender = recommender_of(loaded.model, f"recommender v{loaded.status.version}")
        except StaleModel as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        version = loaded.status.version
        features = None
        customer_id = request.customer_id
        if customer_id is not None and recommender.customer_index(customer_id) is not None:  # only this row is read
            names = list(RECOMMENDER_CUSTOMER_FEATURES)
            row = feature_store.online_row(self.store, self.recommender_features, "customer_id", customer_id, names)
            features = np.array([np.nan if v is None else v for v in row], dtype=np.float64)
        try:
            available = self.stock.available(request.store_id, recommender.product_ids, version)
            found = recommender.recommend(
                request.customer_id, request.cart, request.mode, request.k, available, features
            )
        except UnknownStore as exc:
            raise _invalid("store_id", "unknown store", [exc.store_id]) from None
        except UnknownProducts as exc:
            raise _invalid("cart", "unknown product", exc.product_ids) from None
        table = recommender.products.frame
        index = recommender.reranker.interactions.product_index
        items = [
            Recommended(
                product_id=item.product_id,
                name=table["name"].iat[index[item.product_id]],
                category=table["category"].iat[index[item.product_id]],
                price=float(table["price"].iat[index[item.product_id]]),
                score=item.score,
                reason=item.reason,
            )
            for item in found.items
        ]
        return RecommendResponse(
            model_version=version,
            mode=request.mode,
            customer_id=request.customer_id,
            customer_known=found.customer_known,
            store_id=request.store_id,
            note=found.note,
            items=items,
        )


def _invalid(field: str, message: str, values: list[str]) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, one entry per offending value."""
    return HTTPException(
        status_code=422, detail=[{"loc": ["body", field], "msg": message, "input": value} for value in values]
    )
