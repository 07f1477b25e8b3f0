"""schemathesis against the order API's own OpenAPI, with every check (`--checks all`), in a real server.

All four phases run: the schema's examples, coverage (boundary values, missing headers, unsupported methods and
their `Allow`), fuzzing of valid and invalid requests, and stateful sequences. Requests carry an admin key on a
small stocked shop; schemathesis also sends some without it and expects the documented 401. The one allowance
(operations whose documented 422 answers schema-valid requests that break a business rule) is in
tests/schemathesis.toml, with why; no check is left out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from contract import run_all_checks
from orderserver import start_server, stop
from shopdata import stock_shop
from sqlalchemy import Engine

from retail.db import connect
from serving import auth
from serving.commerce.checks import violations

EXAMPLES = 25  # per operation and phase: about 1,500 requests, 10-20 s on SQLite


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def test_every_order_operation_keeps_its_contract(
    shop: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = auth.create_key(shop, "admin", name="contract")
    monkeypatch.setenv("RETAIL_RATE_LIMITS", '{"admin": "100000/minute", "anonymous": "100000/minute"}')
    server, url = start_server(db_url, tmp_path)
    try:
        failures = run_all_checks(url, {"Authorization": f"Bearer {key}"}, EXAMPLES, tmp_path)
    finally:
        stop(server)
    assert failures == "", failures
    assert violations(shop) == []
