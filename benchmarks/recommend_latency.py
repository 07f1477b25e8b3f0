"""Latency of POST /recommend: the service on loopback, driven at a fixed rate from a second process.

Builds a simulated workspace (or uses --workspace), starts `retail serve`, and sends a fixed number of requests at
a fixed rate (open loop: each request leaves at its scheduled time, and its latency counts from then, so queueing
is not hidden). The mix: known customers with and without carts, guests with carts, unknown customers, a store or
the online shop, every mode. Prints p50/p95/p99, throughput and errors; never fails on a time.

    .venv/bin/python benchmarks/recommend_latency.py [--rate 100] [--requests 3000] [--workspace DIR]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import pandas as pd
import typer

RETAIL = Path(sys.executable).parent / "retail"
TARGETS = {"p50": 10.0, "p99": 50.0}  # milliseconds at 100 requests/s (issue 3)


def build_workspace(root: Path, customers: int) -> None:
    """Simulate, build features and train a recommender through the CLI, as a user would."""
    for args in (
        ["data", "simulate", "--customers", str(customers)],
        ["features", "build"],
        ["train", "recommender"],
    ):
        typer.echo(f"retail {' '.join(args)}")
        subprocess.run([str(RETAIL), *args, "--workspace", str(root)], check=True, capture_output=True)


def api_key(root: Path, role: str = "app") -> str:
    """A new key for the benchmark (`retail keys create` prints it on its last line), as a client app gets one."""
    args = [str(RETAIL), "keys", "create", "--role", role, "--name", "benchmark", "--workspace", str(root)]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]


def request_bodies(root: Path, n: int, seed: int) -> list[dict[str, Any]]:
    """A seeded mix of realistic requests over the workspace's customers, products and stores."""
    rng = random.Random(seed)
    raw = root / "data" / "raw"
    tx = pd.read_parquet(raw / "transactions.parquet", columns=["customer_id", "product_id"])
    customers = sorted(tx["customer_id"].dropna().unique())
    products = sorted(tx["product_id"].unique())
    stores_file = raw / "stores.parquet"
    stores = sorted(pd.read_parquet(stores_file)["store_id"]) if stores_file.exists() else []
    bodies = []
    for _ in range(n):
        body: dict[str, Any] = {"mode": rng.choice(["all", "all", "cross_sell", "up_sell"]), "k": 10}
        who = rng.random()
        if who < 0.75:
            body["customer_id"] = rng.choice(customers)
        elif who < 0.8:
            body["customer_id"] = f"NEW-{rng.randrange(10**6)}"
        if who >= 0.75 or rng.random() < 0.5:
            body["cart"] = rng.sample(products, rng.randint(1, 4))
        if stores and rng.random() < 0.5:
            body["store_id"] = rng.choice(stores)
        bodies.append(body)
    return bodies


async def _drive(
    base: str, key: str, bodies: list[dict[str, Any]], rate: float, timeout: float
) -> list[tuple[float, int]]:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=timeout, limits=limits, headers=headers) as client:
        start = time.perf_counter() + 0.2

        async def one(i: int, body: dict[str, Any]) -> tuple[float, int]:
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                status = (await client.post("/recommend", json=body)).status_code
            except httpx.HTTPError:
                status = -1
            return time.perf_counter() - scheduled, status

        return await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))


def drive(base: str, key: str, bodies: list[dict[str, Any]], rate: float, timeout: float, out: Any) -> None:
    """The load generator's process: send everything on schedule and hand back (latency, status) pairs."""
    started = time.perf_counter()
    results = asyncio.run(_drive(base, key, bodies, rate, timeout))
    out.put((results, time.perf_counter() - started))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {"RETAIL_WORKSPACE": str(root), "BENTOML_HOME": str(log.parent / "bentoml")}
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(RETAIL), "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the service exited early; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    raise RuntimeError(f"the service was not ready in 180 s; see {log}")


def main(
    rate: Annotated[float, typer.Option(help="Requests per second, sent on a fixed schedule.")] = 100.0,
    requests: Annotated[int, typer.Option(min=1, help="How many requests (the run is bounded).")] = 3000,
    warmup: Annotated[int, typer.Option(help="Requests sent first and not counted.")] = 200,
    workspace: Annotated[Path | None, typer.Option(help="A workspace with a recommender @champion.")] = None,
    customers: Annotated[int, typer.Option(help="Simulated customers when no workspace is given.")] = 10_000,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds (counts as an error).")] = 5.0,
    seed: Annotated[int, typer.Option(help="Seed of the request mix.")] = 0,
) -> None:
    """Print p50/p95/p99 latency, throughput and errors of POST /recommend at a fixed rate."""
    with tempfile.TemporaryDirectory() as tmp:
        root = workspace or Path(tmp) / "ws"
        if workspace is None:
            build_workspace(root, customers)
        bodies = request_bodies(root, warmup + requests, seed)
        key = api_key(root)  # an `app` key, as the web shop would hold
        port = free_port()
        server = serve(root, port, Path(tmp) / "server.log")
        try:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            base = f"http://127.0.0.1:{port}"
            for part, share in ((bodies[:warmup], "warm-up"), (bodies[warmup:], "measured")):
                if not part:
                    continue
                proc = ctx.Process(target=drive, args=(base, key, part, rate, timeout, queue))
                proc.start()
                results, seconds = queue.get()
                proc.join()
                if share == "measured":
                    _report(results, seconds, rate)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def latency_figures(results: list[tuple[float, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latencies in ms, which answered 200, and p50/p95/p99 of those (nan when none did)."""
    latency = np.array([r[0] for r in results]) * 1000
    ok = np.array([r[1] == 200 for r in results])
    return latency, ok, np.percentile(latency[ok], [50, 95, 99]) if ok.any() else np.full(3, np.nan)


def _report(results: list[tuple[float, int]], seconds: float, rate: float) -> None:
    latency, ok, (p50, p95, p99) = latency_figures(results)
    typer.echo(f"POST /recommend, {len(results)} requests at {rate:.0f}/s from a second process, loopback, k=10")
    typer.echo(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {latency.max():.1f}")
    typer.echo(f"throughput {ok.sum() / seconds:.1f} responses/s over {seconds:.1f} s; errors {int((~ok).sum())}")
    statuses = pd.Series([r[1] for r in results]).value_counts().to_dict()
    typer.echo(f"status codes: {statuses}; targets: p50 < {TARGETS['p50']:.0f} ms, p99 < {TARGETS['p99']:.0f} ms")


if __name__ == "__main__":
    typer.run(main)
