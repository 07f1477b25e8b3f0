"""A missing optional input is named, with what provides it, never shown as a bare key like `'store_id'`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from features.derived import MissingInput
from retail.cliopts import command
from retail.settings import Settings
from retail.workspace import Workspace
from training import families, run
from training.family import Context
from training.inputs import require_customer_ids, require_reviews
from training.sentiment.dataset import workspace_reviews

LINES = pd.DataFrame(
    {
        "order_id": ["O1", "O2"],
        "customer_id": [None, None],  # guests only
        "product_id": ["P1", "P2"],
        "ts": pd.to_datetime(["2025-01-01", "2025-01-02"]),
        "quantity": [1, 2],
        "unit_price": [2.0, 3.0],
    }
)


def _ctx(tmp_path: Path, tx: pd.DataFrame = LINES) -> Context:
    ws = Workspace.at(tmp_path).ensure()
    return Context(ws, Settings(workspace=tmp_path), pd.Timestamp("2025-02-01"), tx, lambda _: None)


def test_no_reviews_names_the_table_and_how_to_add_it(tmp_path: Path) -> None:
    ws = Workspace.at(tmp_path).ensure()
    with pytest.raises(MissingInput) as err:
        workspace_reviews(ws)
    message = str(err.value)
    assert "training sentiment" in message and "needs a reviews table" in message
    assert "reviews.csv (review_id, customer_id, product_id, ts, rating (1-5), text)" in message
    assert "`retail data import canonical DIR`" in message and "--reviews FILE" in message
    pd.DataFrame({"review_id": pd.Series(dtype=str)}).to_parquet(ws.raw_table("reviews"))
    with pytest.raises(MissingInput, match="needs a reviews table"):  # an empty table is no better
        require_reviews(ws, "training sentiment")


def test_guest_only_lines_name_the_customer_id_column() -> None:
    with pytest.raises(MissingInput) as err:
        require_customer_ids(LINES, "training churn")
    assert "customer_id" in str(err.value) and "guest" in str(err.value)
    require_customer_ids(LINES.assign(customer_id=["C1", None]), "training churn")  # one known buyer will do


@pytest.mark.parametrize(("name", "missing"), [("churn", "customer ids"), ("recommender", "customer ids")])
def test_families_check_their_inputs(tmp_path: Path, name: str, missing: str) -> None:
    family = families.family(name)
    with pytest.raises(MissingInput, match=missing):
        family.check_inputs(_ctx(tmp_path), family.options_type())
    family.check_inputs(_ctx(tmp_path, LINES.assign(customer_id="C1")), family.options_type())


def test_sentiment_checks_reviews_unless_given_a_file(tmp_path: Path) -> None:
    family = families.family("sentiment")
    with pytest.raises(MissingInput, match="reviews table"):
        family.check_inputs(_ctx(tmp_path), family.options_type())
    family.check_inputs(_ctx(tmp_path), family.options_type(reviews=tmp_path / "labelled.csv"))


def test_batch_sentiment_without_reviews_or_input_says_how_to_give_texts(tmp_path: Path) -> None:
    with pytest.raises(MissingInput, match="pass --in FILE") as err:
        families.family("sentiment").predict(_ctx(tmp_path), None, "1", {})
    assert "texts to score" in str(err.value)


def test_the_runner_refuses_before_starting_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_run(*args: object) -> None:
        raise AssertionError("a run was started for a workspace that lacks an input")

    monkeypatch.setattr(run, "context", lambda *args: _ctx(tmp_path))
    monkeypatch.setattr(run.tracking, "connect", no_run)
    with pytest.raises(MissingInput, match="customer ids"):
        run.train("churn", Workspace.at(tmp_path), Settings(workspace=tmp_path))


def test_a_bare_key_error_becomes_a_sentence() -> None:
    app = typer.Typer()

    @app.command()
    @command
    def step() -> None:
        pd.DataFrame({"a": [1]})["store_id"]

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1
    error = result.stderr.strip()
    assert error.startswith("error: missing 'store_id': a column or table this step needs")
    assert "retail data import" in error and error != "error: 'store_id'"
