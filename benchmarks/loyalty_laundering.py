"""The loyalty laundering sequence on a fresh SQLite workspace database: what a customer is left with.

One round: order X is paid (100.00: 100 points), an order Y redeems the whole balance, X is undone (cancelled,
or delivered and returned), then Y is cancelled. Every point of X came from money that was given back, so a
customer should end every round with 0. Before issue 20 the reversal of X took min(100, balance 0) = 0 and
forgot the rest, and cancelling Y gave everything back: 100 more points per round. Prints the balance (and the
points owed) after each round, for the cancel and the return variants, then `retail db check`'s findings.
Runs against whichever checkout is first on PYTHONPATH (the domain functions it calls are the same before
and after), so the two versions can be compared:

    .venv/bin/python benchmarks/loyalty_laundering.py [--rounds 3]
    PYTHONPATH=/path/to/old/checkout .venv/bin/python benchmarks/loyalty_laundering.py
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from datetime import datetime
from typing import Annotated

import typer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from retail import db
from retail.settings import get_settings
from retail.workspace import Workspace
from serving.commerce import checks, orders, returns
from serving.commerce.payloads import OrderIn, ReturnIn
from serving.commerce.tables import Customer, Inventory, LoyaltyAccount, Product, Store

T0 = datetime(2026, 1, 1)


def shop(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add_all([Customer(customer_id=c, created_at=T0) for c in ("CANCEL", "RETURN")])
        s.add(Store(store_id="WEB", name="web shop", kind="online"))
        s.add_all(
            [
                Product(product_id="X", name="x", price_cents=10_000),
                Product(product_id="Y", name="y", price_cents=1_000_000),
            ]
        )
        s.flush()
        s.add_all(
            [Inventory(store_id="WEB", product_id=p, on_hand=1000, reserved=0, updated_at=T0) for p in ("X", "Y")]
        )


def order(engine: Engine, customer: str, product: str, redeem: int = 0) -> str:
    body = {"customer_id": customer, "channel": "web", "fulfilment": "ship", "store_id": "WEB"}
    lines = [{"product_id": product, "quantity": 1}]
    placed, _ = orders.place_order(
        engine, uuid.uuid4().hex, OrderIn.model_validate(body | {"lines": lines, "redeem_points": redeem})
    )
    return placed.order_id


def account(engine: Engine, customer: str) -> tuple[int, int]:
    """(balance, points owed); a checkout without `owed` owes nothing."""
    with Session(engine) as s:
        row = s.scalar(select(LoyaltyAccount).where(LoyaltyAccount.customer_id == customer))
    return (0, 0) if row is None else (row.balance, getattr(row, "owed", 0))


def one_round(engine: Engine, customer: str, undo: str) -> None:
    x = order(engine, customer, "X")
    orders.set_status(engine, x, "paid")  # earns 100 points
    if undo == "return":
        for status in ("picking", "shipped", "delivered"):
            orders.set_status(engine, x, status)
    y = order(engine, customer, "Y", redeem=account(engine, customer)[0])  # spends everything
    if undo == "cancel":
        orders.set_status(engine, x, "cancelled")
    else:
        returns.return_lines(
            engine, x, ReturnIn.model_validate({"store_id": "WEB", "lines": [{"product_id": "X", "quantity": 1}]})
        )
    orders.set_status(engine, y, "cancelled")


def main(rounds: Annotated[int, typer.Option(help="Rounds per variant.")] = 3) -> None:
    logging.getLogger("serving.commerce.loyalty").setLevel(logging.ERROR)  # one warning per round otherwise
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.at(tmp)
        engine = db.engine(ws, get_settings(workspace=ws.root, database_url=f"sqlite:///{ws.root / 'data' / 'app.db'}"))
        shop(engine)
        for customer, undo in (("CANCEL", "cancel"), ("RETURN", "return")):
            for n in range(1, rounds + 1):
                one_round(engine, customer, undo)
                balance, owed = account(engine, customer)
                typer.echo(f"{undo:>6} round {n}: balance {balance} points, owed {owed}")
        found = checks.violations(engine)
        typer.echo(
            f"final balances: cancel {account(engine, 'CANCEL')[0]}, return {account(engine, 'RETURN')[0]} points"
        )
        typer.echo(f"retail db check: {len(found)} findings" + "".join(f"\n  {line}" for line in found))
        engine.dispose()


if __name__ == "__main__":
    typer.run(main)
