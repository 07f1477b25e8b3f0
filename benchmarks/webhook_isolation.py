"""A hung webhook receiver next to a healthy one: how long until the healthy one gets its first event.

Two receivers on localhost: one reads each request and never answers, one answers 204 at once. Both are
registered (the hung one first), the service's delivery loop (`webhooks.start`) runs as in `retail serve`, one
order event (or one for each of `--orders` orders) is written to the outbox, and the script prints the time from
that write until the healthy receiver has its first event, and how long `stop()` took with the hung send still
open. Figures only, no targets.

    .venv/bin/python benchmarks/webhook_isolation.py [--runs 3] [--orders 1]
    cd /tmp/before && PYTHONPATH=/tmp/before /work/main/.venv/bin/python /work/main/benchmarks/webhook_isolation.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy.orm import Session

from retail.db import connect
from serving.commerce import webhooks
from serving.commerce.tables import Outbox

try:  # registration moved out of the delivery module with signed webhooks
    from serving.commerce.webhook_admin import add_webhook
except ImportError:  # the code before it
    from serving.commerce.webhooks import add_webhook  # type: ignore[attr-defined,no-redef]

TIMEOUT_S = 120.0


class Receivers:
    def __init__(self) -> None:
        self.first_event = threading.Event()
        self.release = threading.Event()  # lets the hung handler go at the end
        self.got_at = 0.0


def _server(receivers: Receivers, hang: bool) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers["Content-Length"]))
            if hang:
                receivers.release.wait(TIMEOUT_S)
                return
            if not receivers.first_event.is_set():
                receivers.got_at = time.perf_counter()
                receivers.first_event.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


def one_run(workdir: Path, orders: int) -> tuple[float, float]:
    """(seconds until the healthy receiver had the event, seconds `stop()` took)."""
    receivers = Receivers()
    hung, healthy = _server(receivers, hang=True), _server(receivers, hang=False)
    engine = connect(f"sqlite:///{workdir / 'app.db'}")
    add_webhook(engine, f"http://127.0.0.1:{hung.server_address[1]}/hook")
    add_webhook(engine, f"http://127.0.0.1:{healthy.server_address[1]}/hook")
    stop = webhooks.start(engine, interval_s=0.05)
    try:
        time.sleep(0.5)  # the loop is up and idle, as in a running service
        with Session(engine) as s, s.begin():
            now = datetime.now(UTC).replace(tzinfo=None)
            for n in range(1, orders + 1):  # one event per order
                payload = json.dumps({"order_id": f"O{n}", "status": "placed"})
                s.add(
                    Outbox(
                        order_id=f"O{n}", customer_id="C1", kind="order.status_changed", payload=payload, created_at=now
                    )
                )
        written = time.perf_counter()
        waited = (receivers.got_at - written) if receivers.first_event.wait(TIMEOUT_S) else float("inf")
    finally:
        began = time.perf_counter()
        stop()
        stopped = time.perf_counter() - began
        receivers.release.set()
        for server in (hung, healthy):
            server.shutdown()
            server.server_close()
        engine.dispose()
    return waited, stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh databases and receivers each time")
    parser.add_argument("--orders", type=int, default=1, help="orders with one event each, written at once")
    args = parser.parse_args()
    waits, stops = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="webhook-isolation-") as tmp:
            waited, stopped = one_run(Path(tmp), args.orders)
        waits.append(waited)
        stops.append(stopped)
        print(f"run {run + 1}: healthy webhook got the event after {waited:.3f} s; stop() took {stopped:.3f} s")
    print(f"median: {statistics.median(waits):.3f} s to the healthy webhook, stop() {statistics.median(stops):.3f} s")


if __name__ == "__main__":
    main()
