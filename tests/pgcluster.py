"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary folder, one port.

`RETAIL_TEST_POSTGRES_URL` points the tests at a server that is already running instead. Without either, the
PostgreSQL half of the order tests is skipped locally, but fails under CI (`CI=true`), where `.ci/run` installs
the server first.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_URL = "RETAIL_TEST_POSTGRES_URL"


def binaries() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server as the `postgres` user then (Debian's package creates it)."""
    if os.geteuid() != 0:
        return cmd
    pwd.getpwnam("postgres")
    return ["runuser", "-u", "postgres", "--", *cmd]


class Cluster:
    """A cluster in a temporary folder on one port; `stop()` and `start()` it to test a database outage."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir, self.root, self.port = bin_dir, root, port
        self.data, self.sockets = root / "data", root / "run"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _ctl(self, *args: str) -> list[str]:
        return _as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *args])

    def start(self) -> None:
        """Start the server (again) on its port and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off"
        subprocess.run(
            self._ctl("-o", options, "-l", str(self.root / "log"), "-w") + ["start"], check=True, capture_output=True
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (an orderly shutdown), `immediate` is a crash."""
        subprocess.run(self._ctl("-m", mode, "-w", "stop"), check=True, capture_output=True)


@contextmanager
def cluster() -> Iterator[Cluster]:
    """Create and start a cluster on a free local port; stops and removes it afterwards."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="retail-pg-"))
    made = Cluster(bin_dir, root, _free_port())
    made.sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(made.sockets, "postgres")
    try:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "initdb"), "-D", str(made.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]
            ),
            check=True,
            capture_output=True,
        )
        made.start()
        yield made
    finally:
        subprocess.run(made._ctl("-m", "immediate", "stop"), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server() -> Iterator[str]:
    """Start a cluster on a free local port; yields an admin SQLAlchemy URL; stops and removes it afterwards."""
    with cluster() as made:
        yield made.url


def fresh_database(admin_url: str) -> str:
    """A new, empty database on the server: each test gets its own, so none sees another's rows."""
    from sqlalchemy import create_engine, text

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 30
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
