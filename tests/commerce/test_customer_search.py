"""Finding customers by id: prefix, any case, bounded, and on the primary key's index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from retail.db import connect
from serving.commerce import customers
from serving.commerce.errors import Invalid
from serving.commerce.tables import Customer

T0 = datetime(2026, 1, 2)
IDS = ["C00001", "C00002", "C00010", "C00100", "c00100x", "D00001", "12346", "123460", "A/b"]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = connect(db_url)
    with Session(engine) as s, s.begin():
        s.add_all(Customer(customer_id=c, region="North" if i % 2 else None, created_at=T0) for i, c in enumerate(IDS))
    yield engine
    engine.dispose()


def ids(found: list[customers.CustomerOut]) -> list[str]:
    return [c.customer_id for c in found]


def test_a_prefix_finds_every_id_that_starts_with_it_in_order(engine: Engine) -> None:
    found, more = customers.search(engine, "C0001")
    assert ids(found) == ["C00010"] and not more
    found, _ = customers.search(engine, "C000")
    assert ids(found) == ["C00001", "C00002", "C00010"]
    assert ids(customers.search(engine, "1234")[0]) == ["12346", "123460"]
    assert ids(customers.search(engine, "Z")[0]) == []


def test_any_case_matches(engine: Engine) -> None:
    assert ids(customers.search(engine, "c001")[0]) == ["C00100", "c00100x"]
    assert ids(customers.search(engine, "d")[0]) == ["D00001"]
    assert ids(customers.search(engine, "  a/  ")[0]) == ["A/b"]


def test_the_limit_bounds_the_answer_and_says_more_matched(engine: Engine) -> None:
    found, more = customers.search(engine, "C", limit=2)
    assert ids(found) == ["C00001", "C00002"] and more
    found, more = customers.search(engine, "C", limit=5)
    assert len(found) == 5 and not more


@pytest.mark.parametrize(("q", "limit", "field"), [("", 10, "q"), ("x" * 65, 10, "q"), ("C", 0, "limit")])
def test_bad_input_names_the_field(engine: Engine, q: str, limit: int, field: str) -> None:
    with pytest.raises(Invalid) as caught:
        customers.search(engine, q, limit)
    assert caught.value.field == field


def test_an_exact_id_is_found_in_any_case(engine: Engine) -> None:
    assert customers.exact_id(engine, "c00002") == "C00002"
    assert customers.exact_id(engine, " C00100X ") == "c00100x"
    assert customers.exact_id(engine, "C0000") is None
    assert customers.exact_id(engine, "") is None


def test_the_search_reads_the_primary_key_index_not_the_table(tmp_path: Path) -> None:
    """SQLite's plan for the query `search` sends: a range search on the primary key per spelling, no scan."""
    engine = connect(f"sqlite:///{tmp_path / 'plan.db'}")
    sent: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute", lambda *args: sent.append((args[2], args[3])))
    customers.search(engine, "c0001")
    statement, params = next((s, p) for s, p in sent if "FROM customers" in s)
    with engine.connect() as c:
        plan = [str(row[-1]) for row in c.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params)]
    assert sum("SEARCH customers USING INDEX" in step for step in plan) == 2, plan  # C0001 and c0001
    assert not any(step.startswith("SCAN") for step in plan), plan
    engine.dispose()


@pytest.fixture
def named(engine: Engine) -> Engine:
    people = [
        ("N1", "Amelia Smith", "amelia.smith.1@example.com"),
        ("N2", "Oliver Smithson", "o.s@shop.test"),
        ("N3", "Ann O'Neil", None),
        ("N4", "100% Cotton_Fan", None),
    ]
    with Session(engine) as s, s.begin():
        s.add_all(Customer(customer_id=c, name=n, email=e, created_at=T0) for c, n, e in people)
    return engine


def test_a_name_is_found_by_the_start_of_any_of_its_words_in_any_case(named: Engine) -> None:
    assert ids(customers.search(named, "smith")[0]) == ["N1", "N2"]
    assert ids(customers.search(named, "AMEL")[0]) == ["N1"]
    assert ids(customers.search(named, "o'ne")[0]) == ["N3"]
    assert ids(customers.search(named, "mith")[0]) == []  # inside a word is no match
    found = customers.search(named, "amelia")[0]
    assert (found[0].name, found[0].email) == ("Amelia Smith", "amelia.smith.1@example.com")


def test_an_email_is_found_by_its_start_and_like_wildcards_match_themselves(named: Engine) -> None:
    assert ids(customers.search(named, "O.S@")[0]) == ["N2"]
    assert ids(customers.search(named, "amelia.smith.1@example.com")[0]) == ["N1"]
    assert ids(customers.search(named, "100%")[0]) == ["N4"]
    assert ids(customers.search(named, "%")[0]) == []
    assert ids(customers.search(named, "_")[0]) == []


def test_id_matches_come_before_name_matches_and_each_customer_once(named: Engine) -> None:
    with Session(named) as s, s.begin():
        s.add(Customer(customer_id="SMITH-7", name="Smith Seven", created_at=T0))
    assert ids(customers.search(named, "smith")[0]) == ["SMITH-7", "N1", "N2"]


def test_whether_any_customer_is_named(engine: Engine) -> None:
    assert not customers.named(engine)
    with Session(engine) as s, s.begin():
        s.add(Customer(customer_id="E1", email="e@x.test", created_at=T0))
    assert customers.named(engine)
