"""The unit tier's fixtures: no services (no PostgreSQL, Redis, MLflow server or web server), temporary folders only.

`make test-unit` runs this tier alone, in under a minute. Every test here runs with the RETAIL_* variables that
name a service unset (a developer's shell may set them) and with connections to network addresses refused, so a
test that needs a service fails here instead of passing only where one runs: it belongs in tests/integration or
tests/commerce.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

SERVICE_VARIABLES = ("RETAIL_DATABASE_URL", "RETAIL_ONLINE_STORE", "RETAIL_REDIS_URL", "RETAIL_TRACKING_URI")


@contextmanager
def services_refused() -> Iterator[None]:
    """Unset the variables that name services, refuse connections to network addresses, keep MLflow in files."""
    connect = socket.socket.connect

    def local_only(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise ConnectionRefusedError(f"the unit tier uses no services: connection to {address} refused")
        connect(self, address)

    with pytest.MonkeyPatch.context() as mp:
        for name in SERVICE_VARIABLES:
            mp.delenv(name, raising=False)
        mp.setattr(socket.socket, "connect", local_only)
        mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow stores in files: no database migrations to wait for
        yield


@pytest.fixture(autouse=True)
def no_services() -> Iterator[None]:
    """Every unit test runs without services (per test, so nothing leaks into tests of other tiers)."""
    with services_refused():
        yield


@pytest.fixture(scope="session")
def tiny_workspace(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`planted.tiny_workspace`, built once: every registered family trained on a tiny simulated workspace."""
    from planted import tiny_workspace

    with services_refused():  # set up before any test's own fixtures
        return tiny_workspace(tmp_path_factory.mktemp("tiny"))


# Garbage collection, which nothing here tests, took 7 s of the unit tier's minute: it rescans every object the
# libraries made as they loaded (millions) each time it runs. So it pauses while the tests are collected (imports
# make few cycles), what collection made is frozen (never rescanned), and so is what is left when the session ends
# (it goes with the process; this spares pytest's and the interpreter's last collections).
gc.disable()


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.freeze()
    gc.enable()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    gc.freeze()
