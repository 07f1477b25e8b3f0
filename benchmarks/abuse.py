"""Abuse from the network, against the real Bento: a 100 MiB body, and 1,000 random paths, from unauthenticated callers.

Starts the service (`bentoml serve serving.service:RetailService`, what `retail serve` runs) on a workspace; with
no --workspace, an empty one (no models: the service starts, /readyz stays 503, and these checks need nothing
more). Then:

1. POST /churn with a 100 MiB JSON body (declared `Content-Length`), once with no key and once with an admin
   key: the time until the service answers, its status, and the serving processes' peak RSS (`VmHWM`) before and
   after, so a body read and parsed whole shows as a jump of hundreds of MB.
2. GET 1,000 random paths with no key (half random ids under real routes, half unknown paths), then /metrics: how
   many series `bentoml_service_request_total` has, and whether any label holds one of the random ids.

Prints figures; never fails on a time. Runs the code on `PYTHONPATH` / in the working directory, so the same script
measures an older checkout: `cd /tmp/before && PYTHONPATH=/tmp/before /work/main/.venv/bin/python
/work/main/benchmarks/abuse.py`.

    .venv/bin/python benchmarks/abuse.py [--body-mib 100] [--paths 1000] [--workspace DIR]
"""

from __future__ import annotations

import collections
import os
import random
import re
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import psutil
import typer

RETAIL = Path(sys.executable).parent / "retail"
REQUEST_TOTAL = re.compile(r'^bentoml_service_request_total\{.*?endpoint="([^"]*)"', re.MULTILINE)
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(workspace: Path, run_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "RETAIL_WORKSPACE": str(workspace),
        "BENTOML_HOME": str(run_dir / "bentoml"),
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "-m", "bentoml", "serve", "serving.service:RetailService", "--port", str(port)]
    log = (run_dir / "server.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the service exited: see {run_dir / 'server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                # the first request to the app builds its middleware and opens the database: do it now
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=30)
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    sys.exit(f"the service did not start in 180 s: see {run_dir / 'server.log'}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def peak_rss(proc: subprocess.Popen[bytes]) -> dict[int, int]:
    """VmHWM (the lifetime peak resident set) in bytes of the server and every process it started."""
    peaks = {}
    root = psutil.Process(proc.pid)
    for p in [root, *root.children(recursive=True)]:
        try:
            status = Path(f"/proc/{p.pid}/status").read_text()
        except OSError:
            continue
        kib = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if kib:
            peaks[p.pid] = int(kib.group(1)) * 1024
    return peaks


def body(size: int) -> Iterator[bytes]:
    """`{"customer_ids": ["C00001"], "pad": "xxx..."}`, `size` bytes of valid JSON, in 1 MiB chunks."""
    head, tail = b'{"customer_ids": ["C00001"], "pad": "', b'"}'
    pad = size - len(head) - len(tail)
    yield head
    while pad > 0:
        n = min(MIB, pad)
        yield b"x" * n
        pad -= n
    yield tail


def big_post(port: int, proc: subprocess.Popen[bytes], size: int, headers: dict[str, str]) -> None:
    """POST /churn over a raw socket: the body streams from a thread while the answer is awaited, so the time is
    when the service answered, not when the client finished sending."""
    before = peak_rss(proc)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST /churn HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n{head}Connection: close\r\n\r\n"
    ).encode()
    sent = 0

    def upload(sock: socket.socket) -> None:
        nonlocal sent
        try:
            for chunk in body(size):
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the service closed the connection after answering

    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        started = time.perf_counter()
        sock.sendall(request)
        sender = threading.Thread(target=upload, args=(sock,), daemon=True)
        sender.start()
        first = sock.recv(65536)
        took = time.perf_counter() - started
        uploaded = sent
        answer = first
        try:  # the rest of a short answer, unless the service reset the connection to stop the upload
            while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
                answer += chunk
        except OSError:
            pass
    time.sleep(0.5)
    after = peak_rss(proc)
    pid = max(after, key=lambda p: after[p] - before.get(p, 0))
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    text = answer.split(b"\r\n\r\n", 1)[-1][:80]
    typer.echo(f"  answer: {status} {text!r}")
    typer.echo(f"  time to answer: {took:.2f} s, with {uploaded / MIB:.0f} of {size / MIB:.0f} MiB sent by then")
    typer.echo(
        f"  peak RSS of the serving worker (pid {pid}): {before.get(pid, 0) / MIB:.0f} MiB before, "
        f"{after[pid] / MIB:.0f} MiB after; largest of all server processes: {max(after.values()) / MIB:.0f} MiB"
    )


def random_paths(n: int, seed: int = 0) -> tuple[list[str], set[str]]:
    """Half random ids under real routes, half unknown paths; and the random words they are made of."""
    rng = random.Random(seed)
    words: set[str] = set()

    def word(k: int) -> str:
        words.add(w := "".join(rng.choices(string.ascii_lowercase + string.digits, k=k)))
        return w

    templates = [
        "/v1/customers/C{}/orders",
        "/v1/customers/C{}/profile",
        "/v1/orders/O{}",
        "/v1/products/P{}/availability",
    ]
    known = [rng.choice(templates).format(word(8)) for _ in range(n // 2)]
    unknown = [f"/{word(6)}/{word(10)}" for _ in range(n - n // 2)]
    return known + unknown, words


def metrics_flood(base: str, n: int) -> None:
    paths, words = random_paths(n)
    codes: collections.Counter[int] = collections.Counter()
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=30) as client:
        series_before = len(REQUEST_TOTAL.findall(client.get("/metrics").text))
        for path in paths:
            codes[client.get(path).status_code] += 1
        text = client.get("/metrics").text
    took = time.perf_counter() - started
    labels = REQUEST_TOTAL.findall(text)
    leaked = sum(any(w in label for w in words) for label in labels)
    typer.echo(f"  answers: {dict(sorted(codes.items()))} in {took:.1f} s")
    typer.echo(f"  bentoml_service_request_total series: {series_before} before, {len(labels)} after")
    typer.echo(f"  distinct endpoint labels: {len(set(labels))}; series labelled with a random id or path: {leaked}")
    typer.echo(f"  /metrics size: {len(text) / 1024:.0f} KiB")


def main(
    body_mib: Annotated[int, typer.Option(help="Size of the POST /churn body, MiB.")] = 100,
    paths: Annotated[int, typer.Option(help="Random unauthenticated paths before reading /metrics.")] = 1000,
    workspace: Annotated[Path | None, typer.Option(help="Serve this workspace (default: an empty one).")] = None,
) -> None:
    with tempfile.TemporaryDirectory(prefix="abuse-") as tmp:
        run_dir = Path(tmp)
        root = workspace or (run_dir / "workspace")
        root.mkdir(parents=True, exist_ok=True)
        created = subprocess.run(
            [str(RETAIL), "keys", "create", "--role", "admin", "--name", "abuse benchmark", "--workspace", str(root)],
            check=True,
            capture_output=True,
            text=True,
        )
        admin = created.stdout.strip().splitlines()[-1]
        port = free_port()
        proc = start(root, run_dir, port)
        base = f"http://127.0.0.1:{port}"
        typer.echo(f"code: {os.environ.get('PYTHONPATH') or Path.cwd()}; workspace: {root}")
        try:
            typer.echo(f"POST /churn, {body_mib} MiB, no key:")
            big_post(port, proc, body_mib * MIB, {})
            typer.echo(f"POST /churn, {body_mib} MiB, an admin key:")
            big_post(port, proc, body_mib * MIB, {"Authorization": f"Bearer {admin}"})
            typer.echo(f"GET {paths} random paths, no key, then /metrics:")
            metrics_flood(base, paths)
        finally:
            stop(proc)


if __name__ == "__main__":
    typer.run(main)
