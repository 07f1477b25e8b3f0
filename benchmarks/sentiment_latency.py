"""Latency of POST /sentiment with many concurrent single-text clients (adaptive batching at work).

Starts `retail serve` on a workspace with a sentiment @champion (for example the one
`benchmarks/sentiment_reviews.py --workspace DIR` trained) and runs `--clients` closed-loop clients from a second
process, each sending one review per request and the next as soon as the answer is in. Texts are the clothing
reviews (Title + ". " + Review Text). Prints p50/p95/p99, throughput and errors; never fails on a time.

    .venv/bin/python benchmarks/sentiment_latency.py --workspace DIR [--clients 16] [--requests 2000]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import httpx
import pandas as pd
import typer
from recommend_latency import api_key, free_port, latency_figures, serve

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "womens_clothing_reviews" / "reviews.csv"
TARGET_P50_MS = 30.0


async def _clients(base: str, key: str, texts: list[str], clients: int) -> list[tuple[float, int]]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    results: list[tuple[float, int]] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits, headers=headers) as client:

        async def one(lane: int) -> None:
            for text in texts[lane::clients]:
                started = time.perf_counter()
                try:
                    status = (await client.post("/sentiment", json={"texts": [text]})).status_code
                except httpx.HTTPError:
                    status = -1
                results.append((time.perf_counter() - started, status))

        await asyncio.gather(*(one(i) for i in range(clients)))
    return results


def drive(base: str, key: str, texts: list[str], clients: int, out: Any) -> None:
    started = time.perf_counter()
    results = asyncio.run(_clients(base, key, texts, clients))
    out.put((results, time.perf_counter() - started))


def main(
    workspace: Annotated[Path, typer.Option(help="A workspace with a sentiment @champion.")],
    data: Annotated[Path, typer.Option(help="The clothing reviews CSV (the texts sent).")] = DEFAULT_DATA,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent closed-loop clients.")] = 16,
    requests: Annotated[int, typer.Option(min=1, help="Requests counted (after a warm-up of 200).")] = 2000,
) -> None:
    raw = pd.read_csv(data).dropna(subset=["Review Text"]).sample(requests + 200, random_state=0)
    texts = (raw["Title"].fillna("") + ". " + raw["Review Text"]).tolist()
    key = api_key(workspace)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = serve(workspace, port, Path(tmp) / "server.log")
        try:
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            base = f"http://127.0.0.1:{port}"
            for part in (texts[:200], texts[200:]):  # warm-up, then the measured run
                proc = ctx.Process(target=drive, args=(base, key, part, clients, queue))
                proc.start()
                results, seconds = queue.get()
                proc.join()
            _report(results, seconds, clients)
            if any(status != 200 for _, status in results):
                log = (Path(tmp) / "server.log").read_text(errors="replace").splitlines()
                errors = [line for line in log if "ERROR" in line or "Error" in line or "status=5" in line]
                typer.echo("server log, errors:\n" + "\n".join(errors[:12]))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def _report(results: list[tuple[float, int]], seconds: float, clients: int) -> None:
    latency, ok, (p50, p95, p99) = latency_figures(results)
    typer.echo(f"POST /sentiment, {len(results)} single-review requests from {clients} concurrent clients, loopback")
    typer.echo(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {latency.max():.1f}")
    statuses = Counter(status for _, status in results)
    typer.echo(f"throughput {ok.sum() / seconds:.1f} texts/s over {seconds:.1f} s; errors {int((~ok).sum())}")
    typer.echo("statuses: " + ", ".join(f"{code}: {n}" for code, n in sorted(statuses.items())))
    typer.echo(f"target: p50 < {TARGET_P50_MS:.0f} ms: {'met' if p50 < TARGET_P50_MS else 'NOT met'}")


if __name__ == "__main__":
    typer.run(main)
