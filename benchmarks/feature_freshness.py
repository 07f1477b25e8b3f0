"""Freshness: time from an order's answer to the changed /churn and /recommend answers, through `retail serve`.

Needs a workspace with churn and recommender champions and a seeded order database (`make demo`'s, say); it
places and pays orders there, so use a copy you can spare. Starts `retail serve`, then, one customer at a time,
for `--orders` customers with the highest churn risk among a sample: reads /churn and the top cross-sell
product (in stock online), places an order for it (201), pays it (200), and polls /churn every 10 ms until it
shows recency 0, then /recommend until cross-sell no longer offers the product. Prints p50/p95/max of each
delay (from the order's 201 and from the payment's answer) and how churn probabilities moved. Never fails on a
time.

    .venv/bin/python benchmarks/feature_freshness.py --workspace DIR [--orders 30]
"""

from __future__ import annotations

import os
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import numpy as np
import pandas as pd
import typer
from recommend_latency import api_key, free_port, serve

POLL_S = 0.01
GIVE_UP_S = 10.0


def _wait(check, started: float) -> float | None:  # type: ignore[no-untyped-def]
    """Seconds from `started` until `check()` is true (None after GIVE_UP_S)."""
    while time.perf_counter() - started < GIVE_UP_S:
        if check():
            return time.perf_counter() - started
        time.sleep(POLL_S)
    return None


def _figures(name: str, values: list[float | None]) -> None:
    seen = [v * 1000 for v in values if v is not None]
    if not seen:
        typer.echo(f"{name:<44} never changed")
        return
    p50, p95 = np.percentile(seen, [50, 95])
    missed = sum(v is None for v in values)
    typer.echo(f"{name:<44} p50 {p50:7.0f} ms  p95 {p95:7.0f} ms  max {max(seen):7.0f} ms  missed {missed}")


def main(
    workspace: Annotated[Path, typer.Option(help="A trained workspace with an order database; orders are placed.")],
    orders: Annotated[int, typer.Option(min=1, help="Customers who each place and pay one order.")] = 30,
    sample: Annotated[int, typer.Option(help="Customers sampled to find the riskiest.")] = 2000,
) -> None:
    root = workspace.resolve()
    key = api_key(root, "admin")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = serve(root, port, Path(tmp) / "server.log")
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:
                run(http, root, orders, sample)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def run(http: httpx.Client, root: Path, orders: int, sample: int) -> None:
    table = pd.read_parquet(root / "data" / "features" / "customer_products.parquet", columns=["customer_id"])
    ids = table["customer_id"].tolist()[:sample]
    scores = http.post("/churn", json={"customer_ids": ids}).json()["scores"]
    risky = sorted(scores, key=lambda s: -s["churn_probability"])[:orders]
    from_201: dict[str, list[float | None]] = {"churn": [], "recommend": []}
    from_paid: dict[str, list[float | None]] = {"churn": [], "recommend": []}
    moves: list[tuple[float, float, str, str]] = []
    for score in risky:
        customer = score["customer_id"]

        def churn(customer: str = customer) -> dict:
            return http.post("/churn", json={"customer_ids": [customer]}).json()["scores"][0]

        def cross_sell(customer: str = customer) -> list[str]:
            body = {"customer_id": customer, "mode": "cross_sell", "k": 10}
            return [i["product_id"] for i in http.post("/recommend", json=body).json()["items"]]

        before = churn()
        product = cross_sell()[0]
        stores = http.get(f"/v1/products/{product}/availability").json()["stores"]
        online = next(s["store_id"] for s in stores if s["kind"] == "online" and s["available"] > 0)
        body = {"customer_id": customer, "channel": "web", "fulfilment": "ship", "store_id": online}
        body["lines"] = [{"product_id": product, "quantity": 1}]
        placed = http.post("/v1/orders", json=body, headers={"Idempotency-Key": f"fresh-{customer}-{time.time()}"})
        t_placed = time.perf_counter()
        paid = http.post(f"/v1/orders/{placed.json()['order_id']}/status", json={"status": "paid"})
        t_paid = time.perf_counter()
        if placed.status_code != 201 or paid.status_code != 200:
            typer.echo(f"{customer}: order {placed.status_code}, payment {paid.status_code}; skipped")
            continue
        seen_churn = _wait(lambda: churn()["recency_days"] == 0, t_paid)
        seen_rec = _wait(lambda product=product: product not in cross_sell(), t_paid)
        after = churn()
        for name, seen in (("churn", seen_churn), ("recommend", seen_rec)):
            from_paid[name].append(seen)
            from_201[name].append(None if seen is None else seen + (t_paid - t_placed))
        moves.append((before["churn_probability"], after["churn_probability"], before["risk_band"], after["risk_band"]))
    typer.echo(f"{len(moves)} customers, the riskiest of {len(scores)} sampled, each placed and paid one order")
    _figures("order 201 -> /churn shows recency 0", from_201["churn"])
    _figures("order 201 -> /recommend drops the product", from_201["recommend"])
    _figures("payment 200 -> /churn shows recency 0", from_paid["churn"])
    _figures("payment 200 -> /recommend drops the product", from_paid["recommend"])
    lower = sum(a < b for b, a, _, _ in moves)
    typer.echo(
        f"churn probability lower after the order for {lower}/{len(moves)}; median "
        f"{statistics.median(b for b, _, _, _ in moves):.3f} -> {statistics.median(a for _, a, _, _ in moves):.3f}; "
        f"high band before {sum(b == 'high' for _, _, b, _ in moves)}, after {sum(a == 'high' for _, _, _, a in moves)}"
    )


if __name__ == "__main__":
    typer.run(main)
