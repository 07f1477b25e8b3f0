"""`retail keys` and `retail webhooks`: the key is the last line, lists never show it, revoked keys are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from retail.cli import app
from retail.db import connect
from serving.orders import auth

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
    code, listing = retail("webhooks", "list")
    assert code == 0 and "http://127.0.0.1:9/hook" in listing
    code, output = retail("webhooks", "remove", "1")
    assert code == 0 and "removed" in output
    code, listing = retail("webhooks", "list")
    assert "127.0.0.1:9" not in listing
    code, output = retail("webhooks", "add", "not a url")
    assert code == 1 and "http" in output
