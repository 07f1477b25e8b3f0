"""The order API in a real server process for the race and crash tests: uvicorn on a free port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(db_url: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`uvicorn serving.commerce.app:create_app --factory` on a free port, on the test's database; waits for it."""
    port = _free_port()
    env = os.environ | {"RETAIL_WORKSPACE": str(folder), "RETAIL_DATABASE_URL": db_url}
    log_file = folder / f"server-{port}.log"
    cmd = [sys.executable, "-m", "uvicorn", "serving.commerce.app:create_app", "--factory", "--port", str(port)]
    with log_file.open("w") as log:
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the server did not start: {log_file.read_text()}")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)
