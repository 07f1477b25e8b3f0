"""Latency of POST /v1/orders: the order API (uvicorn, one process) on loopback at a fixed rate, open loop.

Simulates a small workspace (or uses --workspace), seeds the application database (`retail db init`), adds
plenty of stock so the run measures placing orders rather than refusing them, creates an admin key, starts
`uvicorn serving.commerce.app:create_app --factory` and sends orders on a fixed schedule from a second process
(each request's latency counts from its scheduled time, so queueing is not hidden). The mix: 1-3 lines, 80%
shipped from the online shop, 20% picked up in a store, 10% guests. Prints p50/p95/p99, throughput and status
codes, then runs `retail db check`; never fails on a time.

    .venv/bin/python benchmarks/order_latency.py [--rate 50] [--requests 1500] [--database-url URL]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import numpy as np
import pandas as pd
import typer

RETAIL = Path(sys.executable).parent / "retail"


def retail(root: Path, env: dict[str, str], *args: str) -> str:
    cmd = [str(RETAIL), *args, "--workspace", str(root)]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout


def prepare(root: Path, env: dict[str, str], customers: int, build: bool) -> str:
    """Simulate (unless given a workspace), seed the database, stock it up; an admin key."""
    if build:
        retail(root, env, "data", "simulate", "--customers", str(customers), "--days", "120")
    typer.echo(retail(root, env, "db", "init").strip())
    from sqlalchemy import text

    from retail import db
    from retail.settings import get_settings
    from retail.workspace import Workspace

    settings = get_settings(workspace=root, database_url=env.get("RETAIL_DATABASE_URL"))
    with db.engine(Workspace.at(root), settings).begin() as conn:
        conn.execute(text("UPDATE inventory SET on_hand = on_hand + 1000000"))
    return retail(root, env, "keys", "create", "--role", "admin", "--name", "benchmark").strip().splitlines()[-1]


def order_bodies(root: Path, n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    raw = root / "data" / "raw"
    customers = sorted(pd.read_parquet(raw / "customers.parquet")["customer_id"])
    inventory = pd.read_parquet(raw / "inventory.parquet", columns=["store_id", "product_id"]).drop_duplicates()
    stores = pd.read_parquet(raw / "stores.parquet")
    online = sorted(stores.loc[stores["kind"] == "online", "store_id"])[0]
    physical = sorted(stores.loc[stores["kind"] == "store", "store_id"])
    stocked = {s: sorted(g) for s, g in inventory.groupby("store_id")["product_id"]}
    bodies = []
    for _ in range(n):
        pickup = rng.random() < 0.2 and physical
        store = rng.choice(physical) if pickup else online
        products = rng.sample(stocked[store], rng.randint(1, 3))
        bodies.append(
            {
                "customer_id": None if rng.random() < 0.1 else rng.choice(customers),
                "channel": rng.choice(["web", "mobile"]),
                "fulfilment": "pickup" if pickup else "ship",
                "store_id": store,
                "lines": [{"product_id": p, "quantity": rng.randint(1, 2)} for p in products],
            }
        )
    return bodies


async def _drive(base: str, key: str, bodies: list[dict[str, Any]], rate: float) -> list[tuple[float, int]]:
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=10, limits=limits) as client:
        start = time.perf_counter() + 0.2

        async def one(i: int, body: dict[str, Any]) -> tuple[float, int]:
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": uuid.uuid4().hex}
            try:
                status = (await client.post("/v1/orders", json=body, headers=headers)).status_code
            except httpx.HTTPError:
                status = -1
            return time.perf_counter() - scheduled, status

        return await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))


@contextmanager
def serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """The order API alone in one uvicorn process on a free port; yields its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "uvicorn", "serving.commerce.app:create_app", "--factory", "--port", str(port)]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the order API did not start; see {log}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def drive(base: str, key: str, bodies: list[dict[str, Any]], rate: float, out: Any) -> None:
    started = time.perf_counter()
    results = asyncio.run(_drive(base, key, bodies, rate))
    out.put((results, time.perf_counter() - started))


def main(
    rate: Annotated[float, typer.Option(help="Orders per second, sent on a fixed schedule.")] = 50.0,
    requests: Annotated[int, typer.Option(min=1, help="Orders measured.")] = 1500,
    warmup: Annotated[int, typer.Option(help="Orders sent first and not counted.")] = 100,
    workspace: Annotated[Path | None, typer.Option(help="A workspace with raw tables (default: simulate).")] = None,
    customers: Annotated[int, typer.Option(help="Simulated customers when no workspace is given.")] = 2000,
    database_url: Annotated[str | None, typer.Option(help="PostgreSQL URL (default: the workspace's SQLite).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the order mix.")] = 0,
) -> None:
    """Print p50/p95/p99 latency, throughput and status codes of POST /v1/orders at a fixed rate."""
    with tempfile.TemporaryDirectory() as tmp:
        root = workspace or Path(tmp) / "ws"
        env = {k: v for k, v in os.environ.items() if k != "RETAIL_DATABASE_URL"} | {"RETAIL_WORKSPACE": str(root)}
        if database_url:
            env["RETAIL_DATABASE_URL"] = database_url
        key = prepare(root, env, customers, build=workspace is None)
        bodies = order_bodies(root, warmup + requests, seed)
        with serve(env, Path(tmp) / "server.log") as base:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            for part, measured in ((bodies[:warmup], False), (bodies[warmup:], True)):
                proc = ctx.Process(target=drive, args=(base, key, part, rate, queue))
                proc.start()
                results, seconds = queue.get()
                proc.join()
                if measured:
                    report(results, seconds, rate, "PostgreSQL" if database_url else "SQLite")
        typer.echo(retail(root, env, "db", "check").strip())


def report(results: list[tuple[float, int]], seconds: float, rate: float, database: str) -> None:
    latency = np.array([r[0] for r in results]) * 1000
    ok = np.array([r[1] == 201 for r in results])
    p50, p95, p99 = np.percentile(latency[ok], [50, 95, 99]) if ok.any() else (np.nan,) * 3
    typer.echo(f"POST /v1/orders on {database}, {len(results)} orders at {rate:.0f}/s, one uvicorn process, loopback")
    typer.echo(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {latency.max():.1f}")
    typer.echo(f"throughput {ok.sum() / seconds:.1f} orders/s over {seconds:.1f} s")
    typer.echo(f"status codes: {pd.Series([r[1] for r in results]).value_counts().to_dict()}")


if __name__ == "__main__":
    typer.run(main)
