"""`retail serve` on the shared workspace, started once for every service test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from servers import copy_of, serving


@pytest.fixture(scope="session")
def base_url(built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on the shared workspace, started once for every service test module."""
    with serving(built.ws.root, tmp_path_factory.mktemp("serve")) as base:
        yield base


@pytest.fixture(scope="session")
def admin_key(built) -> str:
    """An admin API key on the shared workspace: every endpoint but health, metrics and the docs needs one."""
    from retail import db
    from serving.auth import create_key

    key, _ = create_key(db.engine(built.ws, built.settings), "admin", name="integration tests")
    return key


@pytest.fixture(scope="session")
def auth_headers(admin_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_key}"}


@pytest.fixture(scope="session")
def http(base_url: str, auth_headers: dict[str, str]) -> Iterator[httpx.Client]:
    """A client of the running service that sends the admin key with every request."""
    with httpx.Client(base_url=base_url, timeout=30, headers=auth_headers) as client:
        yield client


@pytest.fixture
def copy_workspace():
    """`copy(src, dst)`: see `copy_of`."""
    return copy_of
