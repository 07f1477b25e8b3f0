"""The docs site's HTTP API page is rendered from `docs/api/openapi.json`: it must be what the service serves."""

from __future__ import annotations

import json

from serving import openapi_doc


def test_the_published_openapi_document_is_the_service_s() -> None:
    published = openapi_doc.PUBLISHED.read_text(encoding="utf-8")
    assert published == openapi_doc.document(), (
        "docs/api/openapi.json differs from the service's OpenAPI document: "
        "run `.venv/bin/python -m serving.openapi_doc` and commit the file"
    )


def test_the_document_names_every_route_of_the_service() -> None:
    paths = json.loads(openapi_doc.PUBLISHED.read_text(encoding="utf-8"))["paths"]
    for path in ("/recommend", "/churn", "/forecast", "/sentiment", "/models", "/v1/orders"):
        assert path in paths
