"""A throwaway Redis server for the tests (Debian's `redis-server`), on a free port, in a temporary folder.

It can be stopped and started again with its data (saved to its folder on shutdown), as a Redis restart would.
Without the binary the Redis tests are skipped locally, but fail under CI (`CI=true`), where `.ci/run` installs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binary() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process at a time on a fixed port; `url` is Feast's `connection_string`."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.url = f"127.0.0.1:{port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        """Start (again, loading what it saved) and wait until it answers PING."""
        import redis

        cmd = [binary() or "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder)]
        cmd += ["--save", "3600 1", "--appendonly", "no", "--logfile", str(self.folder / "redis.log")]
        self._process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if client.ping():
                    client.close()
                    return
            except redis.exceptions.ConnectionError:  # refused, or still loading its data
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop it as an operator would (SIGTERM: it saves its data to its folder first)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)
        self._process = None


@contextmanager
def server() -> Iterator[RedisServer]:
    """A started server; stopped and its folder removed afterwards."""
    if binary() is None:
        raise FileNotFoundError("redis-server is not installed (Debian: apt-get install redis-server)")
    folder = Path(tempfile.mkdtemp(prefix="retail-redis-"))
    made = RedisServer(folder, _free_port())
    try:
        made.start()
        yield made
    finally:
        if made._process is not None and made._process.poll() is None:
            made._process.kill()
            made._process.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)
