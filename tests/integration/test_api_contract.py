"""schemathesis against the running service's own OpenAPI, with every check (`--checks all`).

All four phases run against `retail serve` on the shared workspace: the schema's examples, coverage (boundary
values, missing headers, unsupported methods and their `Allow`), fuzzing of valid and invalid requests, and
stateful sequences. Requests carry an admin key; schemathesis also sends some without it and expects the
documented 401. The one allowance (operations whose documented 422 answers schema-valid requests that break a
business rule: an unknown store or product named in the body, `end` before `start`, ...) is in
tests/schemathesis.toml, with why; no check is left out.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from contract import run_all_checks

pytestmark = pytest.mark.integration
EXAMPLES = 20  # per operation and phase: a few thousand requests, about a minute and a half


def test_every_operation_keeps_its_contract(base_url: str, auth_headers: dict[str, str], tmp_path: Path) -> None:
    paths = httpx.get(f"{base_url}/openapi.json").json()["paths"]
    assert {"/churn", "/recommend", "/forecast", "/v1/orders", "/models"} <= set(paths)
    failures = run_all_checks(base_url, auth_headers, EXAMPLES, tmp_path)
    assert failures == "", failures
