"""A real HTTP receiver of webhooks for the tests: it checks every delivery with the Standard
Webhooks library alone (the way a partner would), records what it got, and can be told to fail
or to be slow."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    message_id: str
    event_type: str
    data: dict[str, Any]
    signature: str


@dataclass
class Receiver:
    url: str
    secrets: list[str] = field(default_factory=list)  # any of them may sign
    fail_next: int = 0  # answer 500 to this many requests
    delay: float = 0.0  # seconds before answering
    received: list[Received] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # why a request did not verify
    raw: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)  # every request: body, headers
    in_flight: int = 0  # requests being answered now
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._answer(body, headers)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _answer(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.raw.append((body, headers))
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500
            for secret in self.secrets:
                try:
                    payload = Webhook(secret).verify(body, headers)
                except WebhookVerificationError:
                    continue
                self.received.append(
                    Received(headers["webhook-id"], payload["type"], payload["data"], headers["webhook-signature"])
                )
                return 204
            self.rejected.append(json.dumps(headers))
            return 401

    def types(self) -> list[str]:
        with self.lock:
            return [r.event_type for r in self.received]

    def of(self, event_type: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.event_type == event_type]

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len({r.message_id for r in self.received}) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received)} deliveries of {count} arrived within {timeout} s")


@contextmanager
def receiver(port: int = 0) -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (`port` 0: a free one), until the block ends."""
    state: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status = state[0].handle(body, {k.lower(): v for k, v in self.headers.items()})
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    state.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state[0]
    finally:
        server.shutdown()
        server.server_close()
