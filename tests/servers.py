"""Running `retail serve` on a workspace, and copying a workspace, for the service tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

# Columns where MLflow's SQLite store keeps absolute artifact locations.
ARTIFACT_COLUMNS = [
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
]
READY_TIMEOUT_S = 120.0
RETAIL = Path(sys.executable).parent / "retail"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole process group (bentoml forks workers), then SIGKILL whatever is left."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _wait_ready(proc: subprocess.Popen[bytes], base: str, log_file: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`retail serve` exited with {proc.returncode} before ready:\n{_tail(log_file)}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.5)
    pytest.fail(f"service not ready after {READY_TIMEOUT_S:.0f}s:\n{_tail(log_file)}")


@contextmanager
def serving(workspace: Path, run_dir: Path) -> Iterator[str]:
    """`retail serve` on a workspace in its own process group; the base URL once /readyz is 200."""
    log_file = run_dir / "server.log"
    port = _free_port()
    env = os.environ | {"PYTHONUNBUFFERED": "1", "BENTOML_HOME": str(run_dir / "bentoml")}
    env.pop("RETAIL_WORKSPACE", None)  # --workspace alone must be enough
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [str(RETAIL), "serve", "--workspace", str(workspace), "--port", str(port)],
            cwd=run_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, log_file)
        yield base
    finally:
        _stop(proc)


def copy_of(src: Path, dst: Path) -> Path:
    """A workspace copy sharing nothing with `src` (MLflow's artifact URIs point at the copy)."""
    shutil.copytree(src, dst)
    old, new = src.as_uri() + "/", dst.as_uri() + "/"
    with sqlite3.connect(dst / "mlruns" / "mlflow.db") as db:
        for table, column in ARTIFACT_COLUMNS:
            db.execute(f"UPDATE {table} SET {column} = REPLACE({column}, ?, ?)", (old, new))
    return dst
