"""`retail keys` and `retail webhooks`: the key is the last line, lists never show it, revoked keys are refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from retail.cli import app
from retail.db import connect
from serving import auth
from serving.commerce.tables import Outbox, Webhook, WebhookDelivery

runner = CliRunner()


@pytest.fixture
def retail(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """`retail(*args)`: (exit code, output) of a command on a workspace whose database is `db_url`."""
    monkeypatch.setenv("RETAIL_DATABASE_URL", db_url)
    auth.forget()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--workspace", str(tmp_path)])
        return result.exit_code, result.output

    return invoke


def test_keys_create_list_revoke(retail, db_url: str) -> None:  # type: ignore[no-untyped-def]
    code, output = retail("keys", "create", "--role", "customer", "--customer-id", "C00001", "--name", "app user")
    assert code == 0, output
    key = output.strip().splitlines()[-1]
    assert key.startswith("rk_") and len(key) > 40
    assert auth.lookup(connect(db_url), key) == auth.Caller(1, "customer", "C00001", None)

    code, listing = retail("keys", "list")
    assert code == 0 and key[:11] in listing and "customer C00001" in listing and "app user" in listing
    assert key not in listing and key[11:] not in listing

    code, output = retail("keys", "revoke", key[:11])
    assert code == 0 and "revoked" in output
    assert auth.lookup(connect(db_url), key) is None
    code, listing = retail("keys", "list")
    revoked_line = next(line for line in listing.splitlines() if line.startswith(key[:11]))
    assert revoked_line.count("20") >= 2  # a revocation time next to the creation time


def test_keys_refuse_missing_bindings_and_unknown_prefixes(retail) -> None:  # type: ignore[no-untyped-def]
    code, output = retail("keys", "create", "--role", "store")
    assert code == 1 and "--store-id" in output
    code, output = retail("keys", "create", "--role", "wizard")
    assert code == 1 and "unknown role" in output
    code, output = retail("keys", "revoke", "rk_nothere")
    assert code == 1 and "no API key" in output


def test_webhooks_add_list_remove(retail) -> None:  # type: ignore[no-untyped-def]
    code, output = retail("webhooks", "add", "http://127.0.0.1:9/hook")
    assert code == 0 and output.startswith("webhook 1:")
    secret = output.strip().splitlines()[-1]
    assert secret.startswith("whsec_") and len(secret) == 54
    code, listing = retail("webhooks", "list")
    assert code == 0 and "http://127.0.0.1:9/hook" in listing
    assert secret not in listing
    code, output = retail("webhooks", "remove", "1")
    assert code == 0 and "removed" in output
    code, listing = retail("webhooks", "list")
    assert "127.0.0.1:9" not in listing
    code, output = retail("webhooks", "add", "not a url")
    assert code == 1 and "url: " in output and "http" in output


def test_webhooks_rotate_shows_a_new_secret_once(retail, db_url: str) -> None:  # type: ignore[no-untyped-def]
    _, output = retail("webhooks", "add", "http://127.0.0.1:9/hook")
    first = output.strip().splitlines()[-1]
    code, output = retail("webhooks", "rotate", "1")
    second = output.strip().splitlines()[-1]
    assert code == 0 and second.startswith("whsec_") and second != first
    with Session(connect(db_url)) as s:
        assert s.get(Webhook, 1).secret == second  # type: ignore[union-attr]
    code, output = retail("webhooks", "rotate", "7")
    assert code == 1 and "no active webhook has id 7" in output


def test_webhooks_dead_letters_and_retry(retail, db_url: str) -> None:  # type: ignore[no-untyped-def]
    code, output = retail("webhooks", "dead-letters")
    assert code == 0 and "no dead letters" in output
    retail("webhooks", "add", "http://127.0.0.1:9/hook")
    engine = connect(db_url)
    at = datetime(2026, 7, 1, 12)
    with Session(engine) as s, s.begin():
        entry = Outbox(order_id="O1", customer_id="C1", kind="order.status_changed", payload="{}", created_at=at)
        s.add(entry)
        s.flush()
        s.add(WebhookDelivery(webhook_id=1, outbox_id=entry.id, attempts=24, dead_at=at, last_error="HTTP 410: gone"))
        dead_id = entry.id

    code, listing = retail("webhooks", "dead-letters")
    assert code == 0 and "O1" in listing and "HTTP 410: gone" in listing and "2026-07-01 12:00" in listing
    assert listing.splitlines()[1].split()[:2] == [str(dead_id), "1"]
    code, listing = retail("webhooks", "list")
    assert listing.splitlines()[1].split()[:5] == ["1", "0", "0", "0", "1"]  # id, delivered, pending, failing, dead
    code, output = retail("webhooks", "retry", str(dead_id))
    assert code == 0 and "requeued 1 dead letter" in output
    with Session(engine) as s:
        row = s.get(WebhookDelivery, (1, dead_id))
        assert row is not None and (row.dead_at, row.attempts, row.next_attempt_at) == (None, 0, None)
    code, output = retail("webhooks", "retry", str(dead_id))
    assert code == 1 and f"no dead letter for id {dead_id}" in output
    code, output = retail("webhooks", "retry")
    assert code == 1 and "say which" in output
