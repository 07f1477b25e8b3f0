"""The network guard on the running Bento: bodies refused before they are read, `/metrics` labelled by route."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.integration
REQUEST_TOTAL = re.compile(r'^bentoml_service_request_total\{.*endpoint="([^"]*)"', re.MULTILINE)


def _chunks(size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"customer_ids": ["C00001"], "pad": "'
    for _ in range(size // chunk):
        yield b"x" * chunk


def test_bodies_without_a_key_or_over_the_limit_are_refused(base_url: str, http: httpx.Client) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as anonymous:
        refused = anonymous.post("/churn", content=b'{"customer_ids": [', headers={"content-type": "application/json"})
        assert refused.status_code == 401, refused.text  # not a 422: the body was never parsed
        assert anonymous.post("/churn", content=_chunks(8 * 1024 * 1024)).status_code == 401
    declared = http.post("/churn", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "application/json"})
    assert declared.status_code == 413 and declared.json() == {"detail": "Content Too Large"}
    assert http.post("/churn", content=_chunks(4 * 1024 * 1024)).status_code == 413  # chunked: counted as it comes


def test_metrics_label_requests_by_route_template(base_url: str, http: httpx.Client) -> None:
    assert http.get("/v1/customers/C00042/orders").status_code in (200, 404)
    with httpx.Client(base_url=base_url, timeout=30) as anonymous:
        for i in range(20):
            assert anonymous.get(f"/v1/customers/PROBE{i:05d}/profile").status_code == 401
            assert anonymous.get(f"/probe-{i}/wp-login.php").status_code == 404
    text = http.get("/metrics").text
    endpoints = set(REQUEST_TOTAL.findall(text))
    assert "/v1/customers/{customer_id}/orders" in endpoints and "/v1/customers/{customer_id}/profile" in endpoints
    assert "unmatched" in endpoints
    assert not [e for e in endpoints if "C00042" in e or "PROBE" in e or "probe-" in e], endpoints
