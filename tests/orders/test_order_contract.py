"""schemathesis against the order API's own OpenAPI: no server error, every answered status documented.

Requests carry an admin key on a small stocked shop; schemathesis also sends some without a key and expects
the documented 401. Schema-valid requests naming an unknown order, customer, product or store are refused on
purpose (a documented 404 or 422 naming the id), so the "valid data is accepted" check is left out.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from shopdata import stock_shop
from sqlalchemy import Engine

from retail.db import connect
from serving.orders import auth
from serving.orders.app import create_app
from serving.orders.checks import violations

EXAMPLES = 25


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_every_order_operation_keeps_its_contract(shop: Engine, mode: GenerationMode) -> None:
    app = create_app()
    app.state.db_engine = shop
    key, _ = auth.create_key(shop, "admin", name="contract")
    headers = {"Authorization": f"Bearer {key}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 13
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def keeps_contract(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        keeps_contract()
    assert violations(shop) == []
