"""The network guard (`serving.guard`): keys before bodies, bounded bodies, rate limits; metrics by route template.

Bodies are streamed by httpx's ASGI transport one chunk per `receive`, so counting the chunks the generator gave
out tells how much of a body the service read.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
from _bentoml_impl.server.mount import PassiveMount
from fastapi import FastAPI
from fastapi.testclient import TestClient
from modelstubs import StubRecommender, StubRuntime
from shopdata import key, order_body, stock_shop
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from retail.db import connect
from serving import auth
from serving.commerce.app import create_app

CHUNK = 64 * 1024
HUGE = 1600  # chunks: 100 MiB


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def app_on(shop: Engine) -> FastAPI:
    app = create_app()
    app.state.db_engine = shop
    return app


class Body:
    """A body of `chunks` chunks of 64 KiB that counts how many the service pulled."""

    def __init__(self, chunks: int = HUGE, first: bytes = b'{"customer_id": "C1", "pad": "') -> None:
        self.chunks, self.first, self.pulled = chunks, first, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(self.chunks):
            self.pulled += 1
            yield self.first.ljust(CHUNK, b"x") if i == 0 else b"x" * CHUNK


def post(app: FastAPI, path: str, body: Body, headers: dict[str, str]) -> httpx.Response:
    """POST a streamed body through httpx's ASGI transport (chunked unless `headers` sets a Content-Length)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            return await client.post(path, content=body, headers=headers | {"Content-Type": "application/json"})

    return anyio.run(go)


def test_a_body_without_a_key_is_never_read(shop: Engine) -> None:
    body = Body()
    response = post(app_on(shop), "/v1/orders", body, {})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert body.pulled == 0


def test_an_unparseable_body_without_a_key_is_401_not_422(shop: Engine) -> None:
    with TestClient(app_on(shop)) as client:
        response = client.post("/v1/orders", content=b'{"lines": [', headers={"Content-Type": "application/json"})
        assert response.status_code == 401, response.text
        wrong = {"Authorization": "Bearer rk_00000000_not-a-key"}
        assert client.post("/v1/orders", content=b"{", headers=wrong).status_code == 401


def test_a_declared_length_over_the_limit_is_413_before_any_byte_is_read(shop: Engine) -> None:
    body = Body()
    headers = key(shop, "admin") | {"Content-Length": str(HUGE * CHUNK), "Idempotency-Key": "big"}
    response = post(app_on(shop), "/v1/orders", body, headers)
    assert response.status_code == 413, response.text
    assert response.json() == {"detail": "Content Too Large"}
    assert body.pulled == 0


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(shop: Engine) -> None:
    body = Body()
    response = post(app_on(shop), "/v1/orders", body, key(shop, "admin") | {"Idempotency-Key": "big"})
    assert response.status_code == 413, response.text
    assert body.pulled <= 1024 * 1024 // CHUNK + 1  # 1 MiB and the chunk that crossed it, not 100 MiB


def test_the_limit_is_a_setting_and_bodies_under_it_pass(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIL_MAX_BODY_BYTES", "300")
    headers = key(shop, "admin") | {"Idempotency-Key": "k1"}
    with TestClient(app_on(shop)) as client:
        assert client.post("/v1/orders", json=order_body(), headers=headers).status_code == 201
        padded = order_body() | {"pad": "x" * 300}
        assert client.post("/v1/orders", json=padded, headers=headers | {"Idempotency-Key": "k2"}).status_code == 413


def test_sentiment_reads_up_to_its_own_documented_maximum() -> None:
    from serving.endpoints import sentiment

    assert sentiment.MAX_BODY_BYTES >= sentiment.MAX_TEXTS * sentiment.MAX_CHARS * 12  # every text as JSON escapes
    route = next(r for r in sentiment.router.routes if getattr(r, "path", None) == "/sentiment")
    assert route.max_body_size == sentiment.MAX_BODY_BYTES  # type: ignore[attr-defined]


@pytest.fixture
def tight(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The order API with 2 requests a minute per customer key and 3 per address without a key."""
    monkeypatch.setenv("RETAIL_RATE_LIMITS", '{"customer": "2/minute", "anonymous": "3/minute"}')
    app = app_on(shop)
    app.add_api_route("/healthz", lambda: PlainTextResponse("ok"), include_in_schema=False)
    with TestClient(app) as client:
        yield client


def test_a_key_over_its_role_rate_gets_429_with_retry_after(shop: Engine, tight: TestClient) -> None:
    mine, other = key(shop, "customer", customer_id="C1"), key(shop, "customer", customer_id="C2")
    answers = [tight.get("/v1/customers/C1/loyalty", headers=mine).status_code for _ in range(3)]
    assert answers == [200, 200, 429]
    refused = tight.get("/v1/customers/C1/loyalty", headers=mine)
    assert refused.status_code == 429 and "customer key" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert tight.get("/v1/customers/C2/loyalty", headers=other).status_code == 200  # counted per key
    admin = key(shop, "admin")  # other roles keep their own (default) rates
    assert all(tight.get("/v1/customers/C1/loyalty", headers=admin).status_code == 200 for _ in range(5))


def test_an_address_without_a_key_is_limited_but_health_is_not(shop: Engine, tight: TestClient) -> None:
    admin = key(shop, "admin")
    assert tight.get("/v1/customers/C1/loyalty", headers=admin).status_code == 200  # the key is now cached
    assert tight.get("/openapi.json").status_code == 200  # the docs need no key, but count
    assert [tight.get("/v1/customers/C1/loyalty").status_code for _ in range(3)] == [401, 401, 429]
    refused = tight.get("/v1/orders/O1", headers={"Authorization": "Bearer rk_00000000_guessing-keys"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert tight.get("/docs").status_code == 429
    assert all(tight.get("/healthz").status_code == 200 for _ in range(5))
    assert tight.get("/v1/customers/C1/loyalty", headers=admin).status_code == 200  # a known key still passes


def test_a_bad_rate_setting_is_named(shop: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETAIL_RATE_LIMITS", '{"customer": "lots"}')
    with pytest.raises(ValueError, match=r"RETAIL_RATE_LIMITS\['customer'\] = 'lots'"), TestClient(app_on(shop)):
        pass
    monkeypatch.setenv("RETAIL_RATE_LIMITS", '{"robot": "1/second"}')
    with pytest.raises(ValueError, match="unknown roles \\['robot'\\]"), TestClient(app_on(shop)):
        pass


def test_the_schema_documents_401_413_and_429(shop: Engine) -> None:
    with TestClient(app_on(shop)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert {"401", "413", "429"} <= set(paths["/v1/orders"]["post"]["responses"])
    loyalty = paths["/v1/customers/{customer_id}/loyalty"]["get"]["responses"]
    assert {"401", "429"} <= set(loyalty) and "413" not in loyalty


def test_metrics_are_labelled_by_route_template_and_unknown_paths_share_one_label() -> None:
    """BentoML's metrics middleware, as a Bento stacks it: its own routes, the FastAPI app mounted at `/`."""
    from serving.route_metrics import UNMATCHED, RouteLabelledMetrics

    api = FastAPI()

    @api.get("/v1/customers/{customer_id}/orders")
    def orders(customer_id: str) -> dict[str, str]:
        return {"customer_id": customer_id}

    bento = Starlette(
        routes=[Route("/healthz", lambda _: PlainTextResponse("ok")), PassiveMount("/", api)],
        middleware=[Middleware(RouteLabelledMetrics, namespace="guard_test")],
    )
    with TestClient(bento) as client:
        assert client.get("/v1/customers/C00042/orders").json() == {"customer_id": "C00042"}  # the app sees the id
        assert client.post("/v1/customers/C00042/orders").status_code == 405
        assert all(client.get(f"/probe-{i}/x").status_code == 404 for i in range(20))
        assert client.get("/healthz").status_code == 200
    metrics: Any = bento.middleware_stack.app  # type: ignore[union-attr]
    samples = metrics.metrics_request_total.collect()[0].samples
    labels = {(s.labels["endpoint"], s.labels["http_response_code"]) for s in samples if s.name.endswith("_total")}
    assert labels == {
        ("/v1/customers/{customer_id}/orders", "200"),
        ("/v1/customers/{customer_id}/orders", "405"),
        (UNMATCHED, "404"),
        ("/healthz", "200"),
    }


def test_route_templates_of_the_service() -> None:
    from serving.route_metrics import route_template
    from serving.service import app

    def scope(method: str, path: str) -> dict[str, Any]:
        return {"type": "http", "method": method, "path": path, "root_path": ""}

    routes = [PassiveMount("/", app)]
    assert route_template(routes, scope("GET", "/v1/customers/C00042/orders")) == "/v1/customers/{customer_id}/orders"
    assert route_template(routes, scope("POST", "/recommend")) == "/recommend"
    assert route_template(routes, scope("GET", "/recommend")) == "/recommend"  # its 405
    assert route_template(routes, scope("GET", "/wp-admin/C00042")) is None


def test_a_slow_feature_read_does_not_hold_up_other_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """/recommend reads Feast in a thread: a guest's request finishes while a customer's read is still stuck."""
    from features import store as feature_store
    from serving.endpoints import recommender

    entered, release = threading.Event(), threading.Event()

    def slow_row(*args: object, **kwargs: object) -> list[float]:
        entered.set()
        release.wait(timeout=5)  # on the event loop this blocks every other request until it gives up
        return [4.0]

    monkeypatch.setattr(feature_store, "online_row", slow_row)
    app = FastAPI()
    app.include_router(recommender.router)
    app.state.runtime = StubRuntime(recommender=StubRecommender())
    app.dependency_overrides[recommender.CALLERS] = lambda: auth.Caller(1, "admin", None, None)
    finished: list[str] = []

    async def ask(client: httpx.AsyncClient, name: str, body: dict[str, Any]) -> None:
        response = await client.post("/recommend", json=body)
        assert response.status_code == 200, response.text
        finished.append(name)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://svc") as client,
            anyio.create_task_group() as tg,
        ):
            tg.start_soon(ask, client, "customer", {"customer_id": "C1", "mode": "up_sell", "k": 2})
            await anyio.to_thread.run_sync(entered.wait, 5)
            await ask(client, "guest", {"cart": ["P1"], "mode": "up_sell", "k": 2})
            release.set()

    anyio.run(main)
    assert finished == ["guest", "customer"]
