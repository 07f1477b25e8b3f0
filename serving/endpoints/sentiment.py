"""POST /sentiment: label and score per text, scored in adaptive batches by a BentoML batchable API.

The route validates the request and asks `SentimentBatcher.classify`, a `@bentoml.api(batchable=True)` method
of a service composed into the main one: BentoML gathers the texts of many concurrent requests into one model
call. Without the batcher (the app run on its own) the route scores in process. `score` is the plain function
(the route adds auth and finds the batcher); `answer` turns P(positive) per text into the response.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import aiohttp
import bentoml
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from serving.auth import AUTH_RESPONSES, Caller, require
from serving.payloads import INVALID, UNAVAILABLE
from serving.runtime import Runtime, load_adapter, runtime
from training.sentiment.adapter import KEY, MAX_CHARS, MAX_TEXTS, SentimentAdapter

log = logging.getLogger(__name__)
router = APIRouter(tags=["sentiment"])
READERS = require("admin", "ops", "marketing", "sales_rep", "store", "app")
NAME = KEY.name
Text = Annotated[StrictStr, Field(min_length=1, max_length=MAX_CHARS)]
# The largest body /sentiment reads: 64 texts of 5,000 characters fit even as JSON escapes (12 bytes an emoji).
MAX_BODY_BYTES = 4 * 1024 * 1024


class SentimentRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"texts": ["Love this dress!", "It ripped after a wash."]}]}
    )

    texts: list[Text] = Field(
        min_length=1,
        max_length=MAX_TEXTS,
        description=f"1 to {MAX_TEXTS} non-blank texts of at most {MAX_CHARS:,} characters each.",
    )

    @field_validator("texts")
    @classmethod
    def _not_blank(cls, texts: list[str]) -> list[str]:
        blank = [i for i, t in enumerate(texts) if not t.strip()]
        if blank:
            raise ValueError(f"texts {blank} are blank: every text needs some words")
        return texts


class TextSentiment(BaseModel):
    label: str = Field(description="positive or negative")
    score: float = Field(ge=0, le=1, description="P(positive)")
    truncated: bool = Field(description="The text had more tokens than the model reads; it read the first ones.")


class SentimentResponse(BaseModel):
    model_version: str
    max_tokens: int = Field(description="Tokens the model reads of each text.")
    results: list[TextSentiment]


@bentoml.service(name="sentiment-batcher", workers=1, traffic={"timeout": 60})
class SentimentBatcher:
    """Holds the sentiment champion and scores adaptive batches of texts."""

    def __init__(self) -> None:
        self.adapter: SentimentAdapter | None = None
        self.reload()

    @bentoml.api(batchable=True, max_batch_size=MAX_TEXTS, max_latency_ms=200)
    def classify(self, texts: list[str]) -> list[float]:
        if self.adapter is None:
            raise bentoml.exceptions.ServiceUnavailable("no sentiment model is loaded")
        return self.adapter.scores(texts).tolist()

    @bentoml.api
    def reload(self) -> str:
        """Load the current champion; its version, or an empty string when there is none."""
        try:
            self.adapter = load_adapter(KEY)
        except ValueError as exc:
            log.warning("sentiment batcher: %s", exc)
            return ""
        return self.adapter.version


batcher = SentimentBatcher  # composed into the main service by `serving.service`


async def _scores(remote: Any, adapter: SentimentAdapter, texts: list[str]) -> list[float]:
    """Scores from the batcher; in this process when there is none, or when a call to it breaks off.

    Under bursts of concurrent calls BentoML's batcher sometimes drops a connection ("Server disconnected"):
    the texts are then scored here rather than failing the request.
    """
    if remote is not None:
        try:
            return list(await remote.to_async.classify(texts))
        except (aiohttp.ClientError, bentoml.exceptions.BentoMLException) as exc:
            log.warning("sentiment batcher call failed (%s): scoring %d texts in process", exc, len(texts))
    return list((await run_in_threadpool(adapter.scores, texts)).tolist())


def answer(adapter: SentimentAdapter, texts: list[str], scores: list[float]) -> SentimentResponse:
    """Label and P(positive) per text, in order, from the scores the model gave them; long texts flagged."""
    truncated = adapter.truncated(texts)
    threshold = adapter.threshold
    results = [
        TextSentiment(label="positive" if s >= threshold else "negative", score=s, truncated=bool(t))
        for s, t in zip(scores, truncated, strict=True)
    ]
    return SentimentResponse(model_version=adapter.version, max_tokens=adapter.max_tokens, results=results)


async def score(rt: Runtime, request: SentimentRequest, remote: Any = None) -> SentimentResponse:
    """Label and P(positive) per text: through `remote` (the batcher) when there is one, else in process."""
    adapter = rt.adapter(KEY)
    return answer(adapter, request.texts, await _scores(remote, adapter, request.texts))


@router.post(
    "/sentiment",
    response_model=SentimentResponse,
    responses={**INVALID, **UNAVAILABLE, **AUTH_RESPONSES},
    max_body_size=MAX_BODY_BYTES,  # above the service's 1 MiB (RETAIL_MAX_BODY_BYTES)
)
async def sentiment(
    request: SentimentRequest,
    rt: Annotated[Runtime, Depends(runtime)],
    http: Request,
    _: Annotated[Caller, Depends(READERS)],
) -> SentimentResponse:
    """Label and P(positive) per text, in order; texts longer than the model reads are flagged `truncated`."""
    return await score(rt, request, getattr(http.app.state, "batchers", {}).get(NAME))
