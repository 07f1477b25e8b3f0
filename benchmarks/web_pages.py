"""Server time of each staff page (`/ui/...`): p50 and p95 over N requests, against a 300 ms target at p95.

Signs in the way a browser does (GET /ui/login for the form's CSRF cookie, POST /ui/login with the key), then
requests each page N times in turn, one at a time, after one cold request that is reported but not counted. The
time is the service's own (`Server-Timing: total;dur=...`) where it sends one, else the wall time of the request on
loopback (what a person's browser would wait for, less the network and the drawing); the table says which. A page
that is not there (404) is reported as missing, not an error. Never fails on a time.

Either against a running service (`--url` and `--key`, an admin key), or it starts `retail serve` on a workspace
(default: `.`, where `make demo` builds its 10,000-customer workspace; `--workspace`) with an admin key it makes for the
run and revokes afterwards. The product, category and customer come from the workspace's raw tables (the
best-selling product, its category, the customer with the most orders) unless given. The search asks for a part of
that customer's id, so it lists several (an exact id goes straight to the customer's page).

    .venv/bin/python benchmarks/web_pages.py [--workspace DIR | --url URL --key KEY] [--requests 30]
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import httpx
import numpy as np
import pandas as pd
import typer

RETAIL = Path(sys.executable).parent / "retail"
DEMO = Path(".")  # `make demo`'s workspace (WORKSPACE=. in the Makefile)
TARGET_MS = 300.0
READY_S = 180.0


@dataclass(frozen=True)
class Sample:
    """What the pages are asked about: a product, its category, a store, a customer and a search for them."""

    product: str
    category: str
    store: str
    customer: str
    query: str


def pages(s: Sample) -> list[tuple[str, str]]:
    """(name, path) of every request measured: each page with its default view, and with one filter or pick."""
    return [
        ("sales", "/ui/sales"),
        ("sales, one store", f"/ui/sales?store_id={quote(s.store)}"),
        ("forecasts, product", f"/ui/forecasts?product_id={quote(s.product)}"),
        ("forecasts, category", f"/ui/forecasts?category={quote(s.category)}"),
        ("customers, search", f"/ui/customers?q={quote(s.query)}"),
        ("customer 360", f"/ui/customers/{quote(s.customer)}"),
        ("feedback", "/ui/feedback"),
        ("models", "/ui/models"),
    ]


def sample_of(root: Path) -> Sample:
    """The best-selling product (by units), its category, the busiest shop (not the online one where there are
    shops), the customer with the most orders and a search that finds them among others (their id less its last two
    characters)."""
    raw = root / "data" / "raw"
    columns = ["order_id", "customer_id", "product_id", "quantity", "store_id"]
    tx = pd.read_parquet(raw / "transactions.parquet", columns=columns)
    stores = pd.read_parquet(raw / "stores.parquet", columns=["store_id", "kind"])
    shops = set(stores.loc[stores["kind"] == "store", "store_id"])
    busiest = tx.loc[tx["store_id"].isin(shops) if shops else slice(None), "store_id"].value_counts()
    products = pd.read_parquet(raw / "products.parquet")
    product = str(tx.groupby("product_id")["quantity"].sum().idxmax())
    if "category" in products.columns:
        category = str(products.set_index("product_id")["category"].get(product, products["category"].mode()[0]))
    else:
        category = "unknown"  # imported data without categories: the features call them all this
    orders = tx.dropna(subset=["customer_id"]).groupby("customer_id")["order_id"].nunique()
    customer = str(orders.idxmax())
    return Sample(product, category, str(busiest.index[0]), customer, customer[:-2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(root: Path, run_dir: Path) -> Iterator[str]:
    """`retail serve` on the workspace in its own process group; its base URL once /readyz answers 200."""
    port = _free_port()
    env = os.environ | {"BENTOML_HOME": str(run_dir / "bentoml"), "PYTHONUNBUFFERED": "1"}
    env.pop("RETAIL_WORKSPACE", None)
    log = run_dir / "server.log"
    with log.open("wb") as sink:
        cmd = [str(RETAIL), "serve", "--workspace", str(root), "--port", str(port)]
        proc = subprocess.Popen(
            cmd, cwd=run_dir, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_S
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`retail serve` did not get ready; its log:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield base
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass


@contextmanager
def run_key(root: Path) -> Iterator[str]:
    """An admin key on the workspace for this run, revoked when it ends."""
    from retail import db
    from retail.settings import get_settings
    from retail.workspace import Workspace
    from serving.auth import create_key, revoke_key

    engine = db.engine(Workspace.at(root), get_settings(workspace=root))
    key, row = create_key(engine, "admin", name="web pages benchmark")
    try:
        yield key
    finally:
        revoke_key(engine, row.prefix)


def sign_in(client: httpx.Client, key: str) -> None:
    """The browser's way in: the form's CSRF cookie, then the key posted with it; fails loudly when refused."""
    form = client.get("/ui/login")
    form.raise_for_status()
    csrf = client.cookies.get("retail_login")
    if not csrf:
        raise RuntimeError("the sign-in form set no retail_login cookie")
    answer = client.post("/ui/login", data={"key": key, "csrf": csrf, "next": "/ui/"})
    if answer.status_code != 303 or "retail_session" not in client.cookies:
        raise RuntimeError(f"sign-in refused: {answer.status_code} {answer.text[:300]}")


SERVER_TIMING = re.compile(r"(?:^|,)\s*(?:total|app)\s*;(?:[^,]*;)?\s*dur=([0-9.]+)")


def timed(client: httpx.Client, path: str) -> tuple[int, float, bool]:
    """Status, milliseconds and whether they are the server's own (Server-Timing) rather than wall time."""
    started = time.perf_counter()
    answer = client.get(path)
    wall = (time.perf_counter() - started) * 1000
    found = SERVER_TIMING.search(answer.headers.get("server-timing", ""))
    return answer.status_code, float(found.group(1)) if found else wall, found is not None


@dataclass
class Row:
    name: str
    path: str
    status: int
    cold_ms: float
    p50: float = float("nan")
    p95: float = float("nan")
    worst: float = float("nan")
    server: bool = False


def measure(client: httpx.Client, name: str, path: str, n: int) -> Row:
    status, cold, _ = timed(client, path)
    if status != 200:
        return Row(name, path, status, cold)
    times, server = [], True
    for _ in range(n):
        status, ms, own = timed(client, path)
        if status != 200:
            return Row(name, path, status, cold)
        times.append(ms)
        server = server and own
    p50, p95 = np.percentile(times, [50, 95])
    return Row(name, path, 200, cold, float(p50), float(p95), max(times), server)


def report(rows: list[Row], n: int, where: str) -> None:
    typer.echo(f"staff pages on {where}: {n} requests each after one cold one, one at a time, loopback")
    typer.echo(f"{'page':<22} {'status':>6} {'cold':>8} {'p50':>8} {'p95':>8} {'max':>8}  p95<{TARGET_MS:.0f}  time")
    for r in rows:
        if r.status != 200:
            what = "missing (404)" if r.status == 404 else f"answered {r.status}"
            typer.echo(f"{r.name:<22} {r.status:>6} {r.cold_ms:>8.1f}  {what}: {r.path}")
            continue
        ok = "yes" if r.p95 < TARGET_MS else "NO"
        source = "server" if r.server else "wall"
        times = f"{r.cold_ms:>8.1f} {r.p50:>8.1f} {r.p95:>8.1f} {r.worst:>8.1f}"
        typer.echo(f"{r.name:<22} {r.status:>6} {times}  {ok:<6} {source}")
    typer.echo("times in ms; 'wall': the service sends no Server-Timing header, so each is a request's wall time")


def main(
    workspace: Annotated[Path, typer.Option(help="Workspace to serve (ignored with --url).")] = DEMO,
    url: Annotated[str | None, typer.Option(help="A running service's base URL instead of starting one.")] = None,
    key: Annotated[str | None, typer.Option(help="An admin key for --url (else RETAIL_BENCH_KEY).")] = None,
    requests: Annotated[int, typer.Option(min=1, help="Timed requests per page.")] = 30,
    product: Annotated[str | None, typer.Option(help="Product for the forecasts page.")] = None,
    category: Annotated[str | None, typer.Option(help="Category for the forecasts page.")] = None,
    store: Annotated[str | None, typer.Option(help="Store for the sales page's filter.")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer for the 360 page (and the search).")] = None,
) -> None:
    """Print p50/p95 server time of each staff page and whether p95 is under 300 ms."""
    found = sample_of(workspace) if (workspace / "data" / "raw" / "transactions.parquet").exists() else None
    picked = Sample(
        product or (found.product if found else "P0001"),
        category or (found.category if found else "toys"),
        store or (found.store if found else "S00"),
        customer or (found.customer if found else "C00001"),
        customer[:-2] if customer else (found.query if found else "C000"),
    )
    typer.echo(
        f"product {picked.product}, category {picked.category}, store {picked.store}, customer {picked.customer}"
    )
    if url:
        given = key or os.environ.get("RETAIL_BENCH_KEY")
        if not given:
            raise typer.BadParameter("--url needs --key (or RETAIL_BENCH_KEY): an admin key of that service")
        run(url, given, picked, requests, url)
        return
    with tempfile.TemporaryDirectory() as tmp, run_key(workspace) as made, served(workspace, Path(tmp)) as base:
        run(base, made, picked, requests, f"`retail serve --workspace {workspace}`")


def run(base: str, key: str, picked: Sample, n: int, where: str) -> None:
    with httpx.Client(base_url=base, timeout=60) as client:
        sign_in(client, key)
        rows = [measure(client, name, path, n) for name, path in pages(picked)]
    report(rows, n, where)


if __name__ == "__main__":
    typer.run(main)
