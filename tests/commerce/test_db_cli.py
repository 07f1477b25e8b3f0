"""`retail db init | check | export-transactions` on a tiny workspace, against SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from shopdata import order_in, stock
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from features.rawio import read_table, write_tables
from retail.cli import app
from retail.db import connect
from retail.workspace import Workspace
from serving.commerce import orders, returns
from serving.commerce.export import export_transactions
from serving.commerce.payloads import ReturnIn
from serving.commerce.tables import Customer, Inventory, Order, Product, SaleLine, Store

runner = CliRunner()


def raw_tables() -> dict[str, pd.DataFrame]:
    ts = pd.to_datetime(["2026-01-01", "2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04"])
    return {
        "transactions": pd.DataFrame(
            {
                "order_id": ["a", "b", "c", "d", "e"],
                "customer_id": ["C1", "C2", None, "C3", "C1"],
                "product_id": ["P2", "P2", "P2", "P2", "P3"],
                "ts": ts,
                "quantity": [1, 1, 2, -1, 1],
                "unit_price": [100.0, 1.0, 3.0, 50.0, 4.0],  # P2: 100 is old, -1 a return
                "store_id": ["WEB", "S1", "S1", "S1", "S1"],
                "channel": ["online", "store", "store", "store", "store"],
            }
        ),
        "products": pd.DataFrame({"product_id": ["P1", "P2"], "name": ["shirt", "socks"], "list_price": [12.5, None]}),
        "customers": pd.DataFrame({"customer_id": ["C1", "C2"], "region": ["north", None]}),
        "stores": pd.DataFrame({"store_id": ["WEB", "S1"], "name": ["web", "one"], "kind": ["online", "store"]}),
        "inventory": pd.DataFrame(
            {
                "store_id": ["WEB", "WEB", "S1", "S1"],
                "product_id": ["P1", "P1", "P2", "P9"],
                "on_hand": [3, 7, 4, -2],
                "ts": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-01-01", "2026-01-01"]),
            }
        ),
    }


@pytest.fixture
def ws(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("RETAIL_DATABASE_URL", db_url)
    workspace = Workspace.at(tmp_path / "ws")
    write_tables(workspace.raw_dir, raw_tables())
    return workspace


def retail(ws: Workspace, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--workspace", str(ws.root)])
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_init_seeds_the_catalogue_and_stock_once(ws: Workspace, db_url: str) -> None:
    code, out = retail(ws, "db", "init")
    assert code == 0 and "customers: 3, products: 4, stores: 2, inventory: 3" in out, out
    engine = connect(db_url)
    with Session(engine) as s:
        prices = dict(s.execute(select(Product.product_id, Product.price_cents)).all())
        names = dict(s.execute(select(Product.product_id, Product.name)).all())
        kinds = dict(s.execute(select(Store.store_id, Store.kind)).all())
        region = s.get(Customer, "C1").region  # type: ignore[union-attr]
    assert prices == {"P1": 1250, "P2": 200, "P3": 400, "P9": 0}, "list price, else the median recent sale"
    assert names["P1"] == "shirt" and names["P9"] == "P9" and kinds == {"WEB": "online", "S1": "store"}
    assert region == "north"
    assert stock(engine, "WEB", "P1") == (7, 0) and stock(engine, "S1", "P9") == (0, 0), "newest count, never < 0"
    orders.place_order(engine, "k", order_in(lines=[("P1", 2)]))
    with Session(engine) as s, s.begin():
        s.execute(update(Inventory).where(Inventory.product_id == "P1").values(on_hand=6))
    code, out = retail(ws, "db", "init")
    assert code == 0 and "customers: 0, products: 0, stores: 0, inventory: 0" in out, out
    assert stock(engine, "WEB", "P1") == (6, 2), "a second run never resets stock"


def test_check_reports_planted_violations(ws: Workspace, db_url: str) -> None:
    assert retail(ws, "db", "init")[0] == 0
    engine = connect(db_url)
    order, _ = orders.place_order(engine, "k", order_in(lines=[("P1", 2)]))
    code, out = retail(ws, "db", "check")
    assert code == 0 and "no violations" in out, out
    with Session(engine) as s, s.begin():
        s.execute(update(Inventory).where(Inventory.product_id == "P1").values(reserved=1))
        s.execute(update(Order).values(total_cents=1))
    code, out = retail(ws, "db", "check")
    assert code == 1
    assert "reservations WEB/P1: reserved 1, open orders hold 2" in out, out
    assert f"order {order.order_id}: total 1 cents, lines sum to 2500 cents" in out


def test_export_appends_sale_lines_exactly_once(ws: Workspace, db_url: str) -> None:
    assert retail(ws, "db", "init")[0] == 0
    engine = connect(db_url)
    order, _ = orders.place_order(engine, "k", order_in(customer_id="C1", lines=[("P1", 2)]))
    for status in ("paid", "picking", "shipped", "delivered"):
        orders.set_status(engine, order.order_id, status)
    back = ReturnIn.model_validate({"store_id": "S1", "lines": [{"product_id": "P1", "quantity": 1}]})
    returns.return_lines(engine, order.order_id, back)
    code, out = retail(ws, "db", "export-transactions")
    assert code == 0 and "appended 2 lines" in out, out
    assert retail(ws, "db", "export-transactions")[1].startswith("appended 0 lines")
    tx = read_table(ws, "transactions")  # still valid under the raw data contract
    assert tx is not None and len(tx) == 7
    mine = tx[tx["order_id"] == order.order_id]
    assert mine[["product_id", "quantity", "unit_price", "store_id", "channel", "customer_id"]].values.tolist() == [
        ["P1", 2, 12.5, "WEB", "web", "C1"],
        ["P1", -1, 12.5, "S1", "web", "C1"],
    ]
    with Session(engine) as s:
        assert all(x.exported_at is not None for x in s.scalars(select(SaleLine)))


def test_export_after_a_crash_before_marking_does_not_duplicate(ws: Workspace, db_url: str) -> None:
    assert retail(ws, "db", "init")[0] == 0
    engine = connect(db_url)
    order, _ = orders.place_order(engine, "k", order_in(lines=[("P1", 1)]))
    orders.set_status(engine, order.order_id, "paid")
    assert export_transactions(engine, ws) == 1
    with Session(engine) as s, s.begin():  # as if the process died after the rename, before the commit
        s.execute(update(SaleLine).values(exported_at=None))
    second, _ = orders.place_order(engine, "k2", order_in(lines=[("P1", 1)]))
    orders.set_status(engine, second.order_id, "paid")
    assert export_transactions(engine, ws) == 1
    tx = read_table(ws, "transactions")
    assert tx is not None and tx["order_id"].isin([order.order_id, second.order_id]).sum() == 2


def test_init_from_transactions_alone(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An imported order-line file (no other table) still gives customers, products, prices and stores."""
    monkeypatch.setenv("RETAIL_DATABASE_URL", db_url)
    ws = Workspace.at(tmp_path / "tx-only")
    write_tables(ws.raw_dir, {"transactions": raw_tables()["transactions"]})
    code, out = retail(ws, "db", "init")
    assert code == 0 and "customers: 3, products: 2, stores: 2, inventory: 0" in out, out
    with Session(connect(db_url)) as s:
        assert s.get(Product, "P3").price_cents == 400  # type: ignore[union-attr]
        assert s.get(Store, "S1").kind == "store"  # type: ignore[union-attr]


def test_features_build_first_appends_the_order_api_sales(
    ws: Workspace, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next feature build sees orders placed through the API: `features build` exports them before it runs."""
    import features.build

    seen: list[int] = []

    def build(w: Workspace, _s: object, **_: object) -> dict[str, int]:
        seen.append(len(w.read_transactions()))
        return {}

    monkeypatch.setattr(features.build, "build_features", build)
    assert retail(ws, "db", "init")[0] == 0
    engine = connect(db_url)
    order, _ = orders.place_order(engine, "k", order_in(customer_id="C1", lines=[("P1", 2)]))
    orders.set_status(engine, order.order_id, "paid")
    code, out = retail(ws, "features", "build")
    assert code == 0 and "1 order lines from the order API appended" in out, out
    assert seen == [6]  # the five raw lines and the paid one
