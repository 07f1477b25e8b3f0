"""The application database migrates from empty on both SQLite and PostgreSQL, and its checks hold."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from retail.db import connect, upgrade
from serving.commerce.tables import Inventory, Product, Store


def test_migrations_create_every_table(db_url: str) -> None:
    engine = connect(db_url)
    upgrade(engine)  # a second run is a no-op
    names = set(inspect(engine).get_table_names())
    assert {"orders", "order_lines", "inventory", "api_keys", "outbox", "forecast_runs"} <= names


def test_database_refuses_negative_availability(db_url: str) -> None:
    engine = connect(db_url)
    now = datetime(2026, 1, 1)
    with Session(engine) as s, s.begin():
        s.add_all([Store(store_id="S1", name="one", kind="store"), Product(product_id="P1", name="p", price_cents=100)])
    with pytest.raises(IntegrityError), Session(engine) as s, s.begin():
        s.add(Inventory(store_id="S1", product_id="P1", on_hand=1, reserved=2, updated_at=now))
