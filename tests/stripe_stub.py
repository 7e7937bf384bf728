"""A small Stripe API stand-in on 127.0.0.1 for driving the REAL `StripeGateway` (the official
SDK over HTTP) into the faults localstripe cannot produce.

It answers canned responses for chosen paths, injects a fault into the next writes (`faults`,
consumed in order), and forwards everything else to an upstream (localstripe). Writes are
replayed by Idempotency-Key as Stripe does (localstripe ignores the header), so a retry after a
lost answer returns the first result instead of charging twice, and `forwarded` shows what
reached the upstream.

Faults, on writes to `fault_path` (creating PaymentIntents by default): "500" (refused before
doing anything), "500-after" (done upstream, answer lost as a 5xx), "hang-after" (done
upstream, answer later than the client waits), "409" (a request with this idempotency key is
still in flight).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx


@dataclass
class StripeStub:
    upstream: str | None = None
    url: str = ""
    canned: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    forwarded: list[tuple[str, str, str | None]] = field(default_factory=list)
    hang_seconds: float = 3.0
    fault_path: str = "/v1/payment_intents"  # only writes to this path take a fault
    _replies: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def replied(self, idempotency_key: str) -> dict[str, Any]:
        """The body first answered to a write (e.g. the intent whose answer the client lost)."""
        return dict(json.loads(self._replies[idempotency_key][1]))

    def forwarded_writes(self, path: str) -> int:
        return sum(1 for m, p, _ in self.forwarded if m == "POST" and p == path)

    def _forward(self, method: str, target: str, body: bytes, headers: Any) -> tuple[int, bytes]:
        assert self.upstream is not None, f"nothing canned for {method} {target}"
        keep = {k: v for k, v in headers.items() if k.lower() in ("authorization", "content-type")}
        r = httpx.request(method, self.upstream + target, content=body, headers=keep, timeout=10)
        return r.status_code, r.content

    def answer(self, method: str, target: str, body: bytes, headers: Any) -> tuple[int, bytes]:
        path = urlsplit(target).path
        key = headers.get("Idempotency-Key") if method == "POST" else None
        with self._lock:
            faulty = method == "POST" and path == self.fault_path and self.faults
            fault = self.faults.pop(0) if faulty else None
        if fault == "500":
            return 500, _error("api_error", "injected before the request was handled")
        if fault == "409":
            return 409, _error(
                "invalid_request_error",
                "There is currently another in-progress request using this Idempotent Key",
                code="idempotency_key_in_use",
            )
        with self._lock:
            reply = self._replies.get(key) if key else None
            if reply is None and (method, path) in self.canned:
                status, obj = self.canned[(method, path)]
                reply = status, json.dumps(obj).encode()
            elif reply is None:
                reply = self._forward(method, target, body, headers)
                self.forwarded.append((method, path, key))
                if key and reply[0] < 500:
                    self._replies[key] = reply
        if fault == "500-after":
            return 500, _error("api_error", "injected after the request was handled")
        if fault == "hang-after":
            time.sleep(self.hang_seconds)
        return reply


def _error(kind: str, message: str, *, code: str | None = None) -> bytes:
    err: dict[str, Any] = {"type": kind, "message": message}
    if code:
        err["code"] = code
    return json.dumps({"error": err}).encode()


class _Handler(BaseHTTPRequestHandler):
    stub: StripeStub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = self.stub.answer(self.command, self.path, body, self.headers)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", "req_stub")
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
            pass

    do_GET = do_POST = do_DELETE = _handle


@contextmanager
def run_stripe_stub(upstream: str | None = None) -> Iterator[StripeStub]:
    stub = StripeStub(upstream=upstream.rstrip("/") if upstream else None)
    handler = type("Handler", (_Handler,), {"stub": stub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
