"""The BentoML service: thin endpoints that validate, fetch online features, call the model, shape the answer.

Run it with `retail serve` (or `bentoml serve serving.service:RetailService` with RETAIL_WORKSPACE set).
"""

from __future__ import annotations

import logging
import threading

import bentoml
import pandas as pd
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from features import store as feature_store
from features.repo.definitions import CHURN_SERVICE
from retail.settings import get_settings
from retail.workspace import Workspace
from serving.models import ModelHub
from serving.schemas import ChurnRequest, ChurnResponse, ChurnScore, ModelStatus, RiskBand
from training.churn.model import MODEL_INPUT

log = logging.getLogger(__name__)
EPOCH = pd.Timestamp("1970-01-01")
SERVED_MODELS = ("churn",)

app = FastAPI(title="Retail ML service", version="0.1.0", description="Churn scores from the champion model.")


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
        self.store = None
        self.load_error: str | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._load, name="load-models", daemon=True).start()

    def _load(self) -> None:
        try:
            self.store = feature_store.feature_store(self.ws)
            meta = self.ws.read_meta()
            self.as_of = pd.Timestamp(meta.get("features_as_of") or pd.Timestamp.now().floor("D"))
            self.hub.load()
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
        self._require_ready()
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
        loaded = self.hub.get("churn")
        probs = loaded.model.predict(frame[MODEL_INPUT].astype("float64"))["churn_probability"].to_numpy()
        scores = [
            ChurnScore(customer_id=c, churn_probability=float(p), risk_band=risk_band(float(p)))
            for c, p in zip(ids, probs, strict=True)
        ]
        return ChurnResponse(
            model_version=loaded.status.version, features_as_of=f"{self.as_of:%Y-%m-%d}", scores=scores
        )
