"""The loyalty ledger on SQLite and PostgreSQL: earn, redeem, reverse, expire, the checks, the API and the race.

Known answers: the default policy (1 point per currency unit, silver from 500.00 at 1.25x, a point worth one
cent, expiry after 12 months), with P1 repriced where a test needs a tier.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from orderserver import start_server, stop
from shopdata import order_body, stock, stock_shop
from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from test_order_races import burst
from typer.testing import CliRunner

from retail.cli import app as cli
from retail.db import connect
from serving import auth
from serving.commerce import events, loyalty, orders, returns
from serving.commerce.app import create_app
from serving.commerce.checks import violations
from serving.commerce.errors import Conflict, Invalid
from serving.commerce.payloads import OrderIn, ReturnIn
from serving.commerce.tables import Inventory, LoyaltyAccount, LoyaltyEntry, Order, Product

T0 = datetime(2025, 1, 1)


@pytest.fixture
def shop(db_url: str) -> Iterator[Engine]:
    auth.forget()
    yield stock_shop(connect(db_url))
    auth.forget()


def body(redeem: int = 0, **kwargs: object) -> OrderIn:
    return OrderIn.model_validate(order_body(**kwargs) | {"redeem_points": redeem})  # type: ignore[arg-type]


def place(engine: Engine, key: str, redeem: int = 0, **kwargs: object) -> str:
    order, created = orders.place_order(engine, key, body(redeem, **kwargs))
    assert created
    return order.order_id


def move(engine: Engine, order_id: str, *statuses: str) -> None:
    for status in statuses:
        orders.set_status(engine, order_id, status)


def grant(engine: Engine, customer_id: str, points: int, at: datetime | None = None) -> None:
    """Points earned outside any order (an opening balance), expiring a year after `at`."""
    at = at or events.now()
    with Session(engine) as s, s.begin():
        assert loyalty.post(s, customer_id, points, "earn", "issued", at, expires_at=loyalty.add_months(at, 12))


def balance(engine: Engine, customer_id: str) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(LoyaltyAccount.balance).where(LoyaltyAccount.customer_id == customer_id)) or 0)


def owed(engine: Engine, customer_id: str) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(LoyaltyAccount.owed).where(LoyaltyAccount.customer_id == customer_id)) or 0)


def kinds(engine: Engine, customer_id: str) -> list[tuple[str, int]]:
    with Session(engine) as s:
        legs = s.execute(
            select(LoyaltyEntry.kind, LoyaltyEntry.points)
            .where(LoyaltyEntry.customer_id == customer_id, LoyaltyEntry.account == "customer")
            .order_by(LoyaltyEntry.id)
        )
        return [(k, p) for k, p in legs]


def entries(engine: Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(select(func.count()).select_from(LoyaltyEntry)) or 0)


def reprice(engine: Engine, product_id: str, cents: int) -> None:
    with Session(engine) as s, s.begin():
        s.execute(update(Product).where(Product.product_id == product_id).values(price_cents=cents))


def test_paid_orders_earn_at_the_tier_before_them_in_any_channel(shop: Engine) -> None:
    reprice(shop, "P1", 30_000)
    first = place(shop, "a", lines=[("P1", 2)])
    assert kinds(shop, "C1") == [], "placing earns nothing"
    move(shop, first, "paid")
    assert kinds(shop, "C1") == [("earn", 600)], "bronze: 1 point per unit"
    summary = loyalty.summary(shop, "C1")
    assert (summary.tier, summary.spend_12m, summary.next_tier, summary.spend_to_next_tier) == (
        "silver",
        600.0,
        "gold",
        900.0,
    )
    second = place(shop, "b", store_id="S1", fulfilment="in_store", channel="store", lines=[("P1", 1)])
    move(shop, second, "paid")
    assert kinds(shop, "C1")[-1] == ("earn", 375), "silver: 300 units at 1.25x"
    guest = place(shop, "g", customer_id=None, lines=[("P2", 1)])
    move(shop, guest, "paid")
    assert balance(shop, "C1") == 975 and entries(shop) == 4 and violations(shop) == []


def test_earning_is_idempotent_per_order(shop: Engine) -> None:
    order_id = place(shop, "a", lines=[("P1", 2)])
    move(shop, order_id, "paid", "paid")
    with Session(shop) as s, s.begin():
        order = orders.load_order(s, order_id)
        assert loyalty.earn(s, order, events.now()) == 0
    with pytest.raises(IntegrityError), Session(shop) as s, s.begin():
        loyalty.post(s, "C1", 20, "earn", "issued", events.now(), f"earn:{order_id}", order_id)
    assert kinds(shop, "C1") == [("earn", 20)] and balance(shop, "C1") == 20 and entries(shop) == 2


def test_redeemed_points_become_a_discount_and_only_what_is_needed_is_taken(shop: Engine) -> None:
    grant(shop, "C1", 1000)
    order, _ = orders.place_order(shop, "a", body(500, lines=[("P1", 2)]))
    assert (order.total, order.discount, order.points_redeemed) == (15.0, 5.0, 500)
    capped, _ = orders.place_order(shop, "b", body(400, lines=[("P2", 1)]))
    assert (capped.total, capped.discount, capped.points_redeemed) == (0.0, 2.5, 250)
    assert balance(shop, "C1") == 250
    move(shop, order.order_id, "paid")
    assert kinds(shop, "C1")[-1] == ("earn", 15), "points are earned on what was paid"
    assert violations(shop) == []


def test_redeeming_more_than_the_balance_is_refused_and_nothing_is_written(shop: Engine) -> None:
    grant(shop, "C1", 100)
    before = (entries(shop), stock(shop, "WEB", "P1"))
    with pytest.raises(loyalty.NotEnoughPoints) as refused:
        orders.place_order(shop, "a", body(101, lines=[("P1", 2)]))
    assert refused.value.field == "redeem_points" and refused.value.balance == 100
    assert "100" not in refused.value.message and refused.value.with_balance().endswith("(balance 100)")
    with pytest.raises(Invalid) as guest:
        orders.place_order(shop, "b", body(10, customer_id=None))
    assert guest.value.field == "redeem_points"
    with pytest.raises(Conflict):
        orders.place_order(shop, "c", body(1, customer_id="C2"))  # no account at all
    with Session(shop) as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 0
    assert (entries(shop), stock(shop, "WEB", "P1")) == before and balance(shop, "C1") == 100


def test_cancelling_gives_back_redeemed_points_and_takes_back_earned_ones(shop: Engine) -> None:
    grant(shop, "C1", 1000)
    order_id = place(shop, "a", 500, lines=[("P1", 2)])
    move(shop, order_id, "paid")
    assert balance(shop, "C1") == 515
    move(shop, order_id, "cancelled")
    assert balance(shop, "C1") == 1000
    assert [k for k, _ in kinds(shop, "C1")] == ["earn", "redeem", "earn", "reverse_redeem", "reverse_earn"]
    spent = place(shop, "b", customer_id="C2", lines=[("P1", 1)])
    move(shop, spent, "paid")
    place(shop, "c", 10, customer_id="C2", lines=[("P2", 1)])
    move(shop, spent, "cancelled")
    assert balance(shop, "C2") == 0 and owed(shop, "C2") == 10, "points already spent are owed"
    assert kinds(shop, "C2") == [("earn", 10), ("redeem", -10)] and violations(shop) == []


def give_back(*lines: tuple[str, int]) -> ReturnIn:
    return ReturnIn.model_validate({"store_id": "WEB", "lines": [{"product_id": p, "quantity": q} for p, q in lines]})


def test_a_return_takes_back_earned_points_in_proportion_to_the_refund(shop: Engine) -> None:
    reprice(shop, "P1", 30_000)
    grant(shop, "C1", 100)
    order_id = place(shop, "a", 100, lines=[("P1", 2)])
    move(shop, order_id, "paid", "picking", "shipped", "delivered")
    assert balance(shop, "C1") == 599, "599.00 paid after the 1.00 discount"
    first = returns.return_lines(shop, order_id, give_back(("P1", 1)))
    assert first.refund == 299.5 and balance(shop, "C1") == 300, "half the goods: 299 of 599 points"
    second = returns.return_lines(shop, order_id, give_back(("P1", 1)))
    assert second.refund == 299.5 and balance(shop, "C1") == 0, "the rest, and never the discount refunded"
    spent = place(shop, "b", customer_id="C2", lines=[("P1", 1)])
    move(shop, spent, "paid", "picking", "shipped", "delivered")
    place(shop, "c", 250, customer_id="C2", lines=[("P2", 1)])
    returns.return_lines(shop, spent, give_back(("P1", 1)))
    assert kinds(shop, "C2") == [("earn", 300), ("redeem", -250), ("reverse_earn", -50)], "what is left"
    assert balance(shop, "C2") == 0 and owed(shop, "C2") == 250 and violations(shop) == []


def test_points_of_a_cancelled_order_cannot_be_laundered_through_a_cancelled_redemption(shop: Engine) -> None:
    """Earn on X, spend them on Y, cancel X, cancel Y: Y's points settle what X's reversal could not take.

    Before, X's reversal took min(10, 0) = 0 and forgot the rest, and cancelling Y gave the 10 points back:
    10 points from a refunded order per round, as many rounds as a customer key cares to run.
    """
    for n in range(2):
        x = place(shop, f"x{n}", lines=[("P1", 1)])
        move(shop, x, "paid")  # 10.00: 10 points
        y = place(shop, f"y{n}", 10, lines=[("P2", 1)])
        move(shop, x, "cancelled")
        move(shop, y, "cancelled")
        assert balance(shop, "C1") == 0, f"round {n}: the given-back points settle what X's reversal could not take"
    assert kinds(shop, "C1") == [("earn", 10), ("redeem", -10), ("reverse_redeem", 10), ("settle", -10)] * 2
    assert owed(shop, "C1") == 0 and violations(shop) == []


def test_points_of_a_returned_order_cannot_be_laundered_either(shop: Engine) -> None:
    x = place(shop, "x", lines=[("P1", 1)])
    move(shop, x, "paid", "picking", "shipped", "delivered")
    y = place(shop, "y", 10, lines=[("P2", 1)])
    returns.return_lines(shop, x, give_back(("P1", 1)))
    move(shop, y, "cancelled")
    assert balance(shop, "C1") == 0
    assert owed(shop, "C1") == 0 and violations(shop) == []


def test_points_owed_are_settled_from_the_next_points_that_arrive(shop: Engine) -> None:
    x = place(shop, "x", lines=[("P1", 1)])
    move(shop, x, "paid")
    place(shop, "y", 10, lines=[("P2", 1)])
    move(shop, x, "cancelled")
    assert (balance(shop, "C1"), owed(shop, "C1"), loyalty.summary(shop, "C1").owed) == (0, 10, 10)
    grant(shop, "C1", 4)
    assert (balance(shop, "C1"), owed(shop, "C1")) == (0, 6), "a grant pays what it can"
    z = place(shop, "z", lines=[("P1", 2)])
    move(shop, z, "paid")
    assert kinds(shop, "C1")[-2:] == [("earn", 20), ("settle", -6)]
    summary = loyalty.summary(shop, "C1")
    assert (summary.balance, summary.owed) == (14, 0) and violations(shop) == []


def test_cancelling_a_redemption_keeps_the_expiry_of_the_points(shop: Engine) -> None:
    """Redeem-then-cancel used to give the points back as a fresh lot lapsing 12 months later."""
    now = events.now()
    grant(shop, "C1", 100, now - timedelta(days=330))  # lapses in about a month
    order_id = place(shop, "a", 100, lines=[("P1", 1)])
    move(shop, order_id, "cancelled")
    assert balance(shop, "C1") == 100
    assert loyalty.summary(shop, "C1").entries[0].kind == "reverse_redeem"
    assert loyalty.expire(shop, now + timedelta(days=60)) == (1, 100), "they lapse with the lot they came from"
    assert balance(shop, "C1") == 0 and violations(shop) == []


def test_db_check_reports_points_above_what_orders_that_were_not_reversed_earned(shop: Engine) -> None:
    order_id = place(shop, "a", lines=[("P1", 2)])
    move(shop, order_id, "paid")  # 20 points
    grant(shop, "C1", 5)
    assert violations(shop) == []
    with Session(shop) as s, s.begin():  # a cancellation that left the points behind
        s.execute(update(Order).where(Order.order_id == order_id).values(status="cancelled"))
    expected = "loyalty C1: balance 25 is above the 5 points its orders that were not reversed earned (plus grants)"
    assert expected in violations(shop)


def test_expiry_is_first_in_first_out_and_idempotent(shop: Engine) -> None:
    grant(shop, "C1", 100, T0)  # lapses 2026-01-01
    grant(shop, "C1", 50, T0 + timedelta(days=181))  # lapses 2026-07-01
    with Session(shop) as s, s.begin():
        assert loyalty.post(s, "C1", -30, "redeem", "redeemed", T0 + timedelta(days=200))
    assert loyalty.expire(shop, datetime(2025, 12, 31)) == (0, 0)
    assert loyalty.expire(shop, datetime(2026, 1, 2)) == (1, 70), "the first lot less the 30 spent from it"
    assert loyalty.expire(shop, datetime(2026, 1, 2)) == (0, 0) and balance(shop, "C1") == 50
    assert loyalty.expire(shop, datetime(2026, 7, 2)) == (1, 50) and balance(shop, "C1") == 0
    assert violations(shop) == []


def test_retail_loyalty_expire_command(
    shop: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIL_DATABASE_URL", db_url)
    grant(shop, "C2", 40, T0)
    args = ["loyalty", "expire", "--as-of", "2026-01-02", "--workspace", str(tmp_path)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0 and "expired 40 points of 1 customers" in first.output, first.output
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "expired 0 points of 0 customers" in again.output, again.output


def test_db_check_finds_a_balance_off_its_ledger_and_a_lopsided_movement(shop: Engine) -> None:
    grant(shop, "C1", 100)
    assert violations(shop) == []
    with Session(shop) as s, s.begin():
        s.execute(update(LoyaltyAccount).where(LoyaltyAccount.customer_id == "C1").values(balance=90))
        common = {"entry_group": "planted", "customer_id": "C2", "kind": "earn", "created_at": T0}
        s.add(LoyaltyEntry(account="customer", points=5, **common))
    assert violations(shop) == [
        "loyalty C1: balance 90, ledger sums to 100",
        "loyalty C2: no account, ledger sums to 5",
        "loyalty movement planted: legs sum to 5, not 0",
    ]


def test_loyalty_endpoint_roles_and_redemption_errors_over_http(shop: Engine) -> None:
    app = create_app()
    app.state.db_engine = shop
    grant(shop, "C1", 120)
    headers = {role: {"Authorization": f"Bearer {auth.create_key(shop, role)[0]}"} for role in ("admin", "app")}
    mine = {"Authorization": f"Bearer {auth.create_key(shop, 'customer', customer_id='C1')[0]}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/v1/customers/C1/loyalty", headers=mine)
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert (got["balance"], got["balance_value"], got["tier"], got["next_tier"]) == (120, 1.2, "bronze", "silver")
        assert got["entries"][0]["kind"] == "earn" and got["entries"][0]["expires_at"].endswith("Z")
        assert client.get("/v1/customers/C2/loyalty", headers=mine).status_code == 403
        assert client.get("/v1/customers/C1/loyalty", headers=headers["app"]).status_code == 403
        assert client.get("/v1/customers/C1/loyalty").status_code == 401
        assert client.get("/v1/customers/C9/loyalty", headers=headers["admin"]).status_code == 404
        assert client.get("/v1/customers/C1/loyalty?limit=0", headers=headers["admin"]).status_code == 422
        over = client.post(
            "/v1/orders", json=order_body() | {"redeem_points": 121}, headers=mine | {"Idempotency-Key": "x"}
        )
        assert over.status_code == 409 and "redeem_points" in over.json()["detail"] and "120" in over.json()["detail"]
        guest = client.post(
            "/v1/orders",
            json=order_body(customer_id=None) | {"redeem_points": 1},
            headers=headers["admin"] | {"Idempotency-Key": "y"},
        )
        assert guest.status_code == 422 and "redeem_points" in guest.json()["detail"]


def test_a_refused_redemption_shows_the_balance_only_to_callers_that_may_read_it(shop: Engine) -> None:
    """A store key learned any customer's balance from this 409; customer and sales_rep keys may read it."""
    app = create_app()
    app.state.db_engine = shop
    grant(shop, "C1", 120)
    bearer = {
        "store": auth.create_key(shop, "store", store_id="S1")[0],
        "sales_rep": auth.create_key(shop, "sales_rep")[0],
        "customer": auth.create_key(shop, "customer", customer_id="C1")[0],
    }
    over = order_body(store_id="S1", fulfilment="in_store", channel="store") | {"redeem_points": 500}
    with TestClient(app, raise_server_exceptions=False) as client:
        for role, plain in bearer.items():
            headers = {"Authorization": f"Bearer {plain}", "Idempotency-Key": f"over-{role}"}
            detail = client.post("/v1/orders", json=over, headers=headers).json()["detail"]
            assert detail.startswith("redeem_points: 500 points requested"), detail
            assert ("120" in detail) == (role != "store"), (role, detail)
    assert balance(shop, "C1") == 120


@pytest.mark.integration
def test_thirty_concurrent_redemptions_of_the_same_points(shop: Engine, db_url: str, tmp_path: Path) -> None:
    """The balance covers exactly 5 of the 30 orders: 5 are placed, 25 refused, and the ledger still adds up."""
    grant(shop, "C1", 1000)
    with Session(shop) as s, s.begin():
        s.execute(update(Inventory).where(Inventory.store_id == "WEB").values(on_hand=100))
    process, url = start_server(db_url, tmp_path)
    try:
        admin = {"Authorization": f"Bearer {auth.create_key(shop, 'admin')[0]}"}
        each = order_body(lines=[("P2", 1)]) | {"redeem_points": 200}
        answers = burst(url, admin, [(f"redeem-{i}", each) for i in range(30)])
    finally:
        stop(process)
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 5 + [409] * 25, [a.text for a in answers if a.status_code not in (201, 409)]
    assert all("redeem_points" in a.json()["detail"] for a in answers if a.status_code == 409)
    assert all(a.json()["total"] == 0.5 for a in answers if a.status_code == 201)
    assert balance(shop, "C1") == 0 and stock(shop, "WEB", "P2") == (100, 5)
    assert violations(shop) == []
