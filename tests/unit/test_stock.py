"""Stock rules: newest count per store, online shop without a store, no inventory = all available, refresh."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from retail.workspace import Workspace
from serving.commerce.stock import Stock, UnknownStore

PRODUCTS = ("p1", "p2", "p3")
DAY = pd.Timestamp("2026-01-01")


def _write(ws: Workspace, name: str, frame: pd.DataFrame) -> None:
    ws.raw_dir.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(ws.raw_table(name), index=False)


def _inventory(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["store_id", "product_id", "on_hand", "day"])
    frame["ts"] = DAY + pd.to_timedelta(frame.pop("day"), unit="D")
    return frame


@pytest.fixture
def ws(tmp_path) -> Workspace:
    ws = Workspace.at(tmp_path)
    stores = pd.DataFrame({"store_id": ["WEB", "S1"], "name": ["Web", "Shop"], "kind": ["online", "store"]})
    _write(ws, "stores", stores)
    inventory = [
        ("S1", "p1", 5, 0),
        ("S1", "p1", 0, 2),  # sold out since: the newest count wins
        ("S1", "p2", 0, 0),
        ("S1", "p2", 3, 1),  # restocked
        ("WEB", "p3", 7, 0),
        ("WEB", "p1", 0, 0),
    ]  # S1 has no row for p3: not stocked there
    _write(ws, "inventory", _inventory(inventory))
    return ws


def test_newest_count_per_store_decides(ws: Workspace) -> None:
    stock = Stock(ws)
    assert stock.available("S1", PRODUCTS, "v1").tolist() == [False, True, False]


def test_without_a_store_the_online_shop_counts(ws: Workspace) -> None:
    assert Stock(ws).available(None, PRODUCTS, "v1").tolist() == [False, False, True]


def test_unknown_store_is_named(ws: Workspace) -> None:
    with pytest.raises(UnknownStore, match="S9"):
        Stock(ws).available("S9", PRODUCTS, "v1")


def test_no_inventory_table_means_everything_is_available(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    assert Stock(ws).available(None, PRODUCTS, "v1") is None
    assert Stock(ws).available("ANY", PRODUCTS, "v1") is None  # no stores table either: nothing to check against


def test_inventory_without_an_online_store_leaves_online_unrestricted(tmp_path) -> None:
    ws = Workspace.at(tmp_path)
    _write(ws, "inventory", _inventory([("S1", "p1", 0, 0)]))
    assert Stock(ws).available(None, PRODUCTS, "v1") is None
    assert Stock(ws).available("S1", PRODUCTS, "v1").tolist() == [False, False, False]


def test_a_changed_inventory_file_is_picked_up(ws: Workspace) -> None:
    stock = Stock(ws, check_seconds=0.0)
    assert not stock.available("S1", PRODUCTS, "v1")[2]
    _write(ws, "inventory", _inventory([("S1", "p3", 4, 5)]))
    later = ws.raw_table("inventory").stat().st_mtime + 5
    os.utime(ws.raw_table("inventory"), (later, later))  # coarse file clocks: make the change visible
    assert stock.available("S1", PRODUCTS, "v1").tolist() == [False, False, True]


def test_masks_follow_the_catalogue_they_are_asked_for(ws: Workspace) -> None:
    stock = Stock(ws)
    assert stock.available("S1", ("p2",), "v2").tolist() == [True]
    assert isinstance(stock.available("S1", PRODUCTS, "v1"), np.ndarray)


def _seed_database(url: str) -> None:
    from datetime import datetime

    from sqlalchemy.orm import Session

    from retail.db import connect
    from serving.commerce.tables import Inventory, Product, Store

    now = datetime(2026, 1, 1)
    with Session(connect(url)) as s, s.begin():
        s.add_all([Store(store_id="WEB", name="Web", kind="online"), Store(store_id="S1", name="Shop", kind="store")])
        s.add_all([Product(product_id=p, name=p, price_cents=100) for p in PRODUCTS])
        s.flush()
        s.add_all(
            [
                Inventory(store_id="S1", product_id="p1", on_hand=2, reserved=2, updated_at=now),  # all reserved
                Inventory(store_id="S1", product_id="p2", on_hand=3, reserved=1, updated_at=now),
                Inventory(store_id="WEB", product_id="p3", on_hand=1, reserved=0, updated_at=now),
            ]
        )


def test_a_seeded_database_is_the_source_of_stock(ws: Workspace, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    _seed_database(url)
    stock = Stock(ws, check_seconds=0.0, database_url=url)
    assert stock.available("S1", PRODUCTS, "v1").tolist() == [False, True, False]  # reserved units are not for sale
    assert stock.available(None, PRODUCTS, "v1").tolist() == [False, False, True]


def test_a_reservation_in_the_database_is_seen_at_the_next_check(ws: Workspace, tmp_path) -> None:
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from retail.db import connect
    from serving.commerce.tables import Inventory

    url = f"sqlite:///{tmp_path / 'app.db'}"
    _seed_database(url)
    stock = Stock(ws, check_seconds=0.0, database_url=url)
    assert stock.available(None, PRODUCTS, "v1").tolist() == [False, False, True]
    with Session(connect(url)) as s, s.begin():  # the order API reserves the online shop's last p3
        s.execute(update(Inventory).where(Inventory.product_id == "p3").values(reserved=1))
    assert stock.available(None, PRODUCTS, "v1").tolist() == [False, False, False]
