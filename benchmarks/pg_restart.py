"""PostgreSQL stopped and started again under a stream of orders: which answers clients got, and whether every
201 is still in the database afterwards.

Starts a private PostgreSQL server (Debian's binaries, as the tests do), seeds a tiny shop, runs the order API
(`uvicorn serving.commerce.app:create_app --factory`) on it, and has a few clients place orders in a loop. After
`--before-s` seconds the server is stopped (`--mode fast`: an orderly shutdown; `immediate`: a crash), started
again `--down-s` seconds later, and the stream runs `--after-s` more seconds. Prints the answers by status, the
201s kept and lost, the orders stored that no 201 announced, the time from the restart to the next 201, and
`retail db check`'s violations. Never fails on a figure.

    .venv/bin/python benchmarks/pg_restart.py [--clients 6] [--before-s 5] [--down-s 3] [--after-s 5]
    PYTHONPATH=/tmp/before .venv/bin/python benchmarks/pg_restart.py     # another checkout's code
"""

from __future__ import annotations

import collections
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "orders")]  # the tests' throwaway server, shop and uvicorn helpers

import pgcluster as pg  # noqa: E402
from orderserver import start_server, stop  # noqa: E402
from shopdata import key, order_body, stock_shop  # noqa: E402


def client_loop(url: str, headers: dict[str, str], worker: int, done: threading.Event, sent: list[Any]) -> None:
    rng = random.Random(worker)
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        n = 0
        while not done.is_set():
            lines = [("P2", rng.randint(1, 3))] + ([("P1", 1)] if rng.random() < 0.5 else [])
            body = order_body(lines=lines, customer_id=rng.choice(["C1", "C2", None]))
            try:
                answer = client.post("/v1/orders", json=body, headers={"Idempotency-Key": f"w{worker}-{n}"})
                sent.append((time.monotonic(), answer.status_code, answer.json(), answer.headers.get("Retry-After")))
            except (httpx.TransportError, ValueError):
                sent.append((time.monotonic(), None, None, None))
            n += 1
            if sent[-1][1] != 201:
                time.sleep(0.05)  # a client backing off a little


def main(
    clients: Annotated[int, typer.Option(help="Clients placing orders in a loop.")] = 6,
    before_s: Annotated[float, typer.Option(help="Seconds of orders before the stop.")] = 5.0,
    down_s: Annotated[float, typer.Option(help="Seconds the server stays down.")] = 3.0,
    after_s: Annotated[float, typer.Option(help="Seconds of orders after the restart.")] = 5.0,
    mode: Annotated[str, typer.Option(help="pg_ctl stop mode: fast (orderly) or immediate (a crash).")] = "fast",
) -> None:
    from sqlalchemy import func, select, text
    from sqlalchemy.orm import Session

    from retail.db import connect
    from serving.commerce.checks import violations
    from serving.commerce.tables import Order

    with pg.cluster() as cluster, tempfile.TemporaryDirectory() as folder:
        url = pg.fresh_database(cluster.url)
        engine = stock_shop(connect(url))
        with engine.begin() as conn:
            conn.execute(text("UPDATE inventory SET on_hand = 1000000 WHERE store_id = 'WEB'"))
        headers = key(engine, "admin")
        process, base = start_server(url, Path(folder))
        sent: list[Any] = []
        done = threading.Event()
        threads = [threading.Thread(target=client_loop, args=(base, headers, w, done, sent)) for w in range(clients)]
        try:
            for t in threads:
                t.start()
            time.sleep(before_s)
            cluster.stop(mode)
            stopped = time.monotonic()
            time.sleep(down_s)
            cluster.start()
            restarted = time.monotonic()
            time.sleep(after_s)
        finally:
            done.set()
            for t in threads:
                t.join(timeout=60)
            stop(process)
        acknowledged = {answer["order_id"] for _, status, answer, _ in sent if status == 201}
        with Session(engine) as s:
            stored = set(s.scalars(select(Order.order_id)))
            total = int(s.scalar(select(func.count()).select_from(Order)) or 0)
        problems = violations(engine)
        engine.dispose()
    by_status = collections.Counter("no answer or not JSON" if x[1] is None else str(x[1]) for x in sent)
    during = collections.Counter(str(x[1]) for x in sent if stopped <= x[0] < restarted + 1)
    first_after = min((t for t, status, _, _ in sent if status == 201 and t >= restarted), default=None)
    retry_after = sorted({x[3] for x in sent if x[1] == 503 and x[3] is not None})
    typer.echo(f"requests: {len(sent)} from {clients} clients; server stopped ({mode}) {down_s:.0f} s")
    typer.echo(f"answers: {dict(sorted(by_status.items()))}; while down (+1 s): {dict(sorted(during.items()))}")
    typer.echo(f"503 Retry-After values: {retry_after or '-'}")
    typer.echo(f"201s kept: {len(acknowledged & stored)}; lost: {len(acknowledged - stored)}")
    typer.echo(f"orders stored without a 201: {len(stored - acknowledged)} (of {total})")
    since = "never" if first_after is None else f"{first_after - restarted:.2f} s"
    typer.echo(f"first 201 after the restart: {since}")
    typer.echo(f"retail db check: {len(problems)} violations" + (f": {problems[:3]}" if problems else ""))


if __name__ == "__main__":
    typer.run(main)
