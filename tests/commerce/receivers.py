"""Webhook receivers on localhost for the delivery tests: one checks signatures, one hangs, one trickles."""

from __future__ import annotations

import json
import select
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from serving.commerce import webhooks


class Healthy:
    """Answers 204 to each POST whose signature verifies with `secret`; keeps what it received."""

    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict] = []
        self.refused = 0
        self.got = threading.Event()


class Hung:
    """Reads each POST and never answers; `open` counts requests whose sender has not hung up yet."""

    def __init__(self) -> None:
        self.open = 0
        self.seen = 0
        self.release = threading.Event()


def _healthy_handler(state: Healthy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if not webhooks.verify(state.secret, self.headers.get(webhooks.SIGNATURE_HEADER, ""), body):
                state.refused += 1
                self.send_response(401)
            else:
                state.received.append(json.loads(body))
                state.got.set()
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def _hung_handler(state: Hung) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            state.open, state.seen = state.open + 1, state.seen + 1
            try:
                while not state.release.is_set():  # until the sender hangs up
                    readable, _, _ = select.select([self.connection], [], [], 0.05)
                    if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return
            finally:
                state.open -= 1
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _Trickle(socketserver.BaseRequestHandler):
    """Starts an answer and then sends one header byte every 0.1 s, for ever (until the sender hangs up)."""

    def handle(self) -> None:
        self.request.recv(65536)
        try:
            self.request.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while True:
                time.sleep(0.1)
                self.request.sendall(b"a")
        except OSError:
            return


@contextmanager
def _serving(server: socketserver.TCPServer) -> Iterator[str]:
    server.daemon_threads = True  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def healthy() -> Iterator[tuple[str, Healthy]]:
    state = Healthy()
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _healthy_handler(state))) as url:
        yield url, state


@contextmanager
def hung() -> Iterator[tuple[str, Hung]]:
    state = Hung()
    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), _hung_handler(state))) as url:
        try:
            yield url, state
        finally:
            state.release.set()


@contextmanager
def trickling() -> Iterator[str]:
    with _serving(socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Trickle)) as url:
        yield url


def wait_for(condition, seconds: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll `condition` until true or `seconds` pass (a generous bound, never a measurement)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
