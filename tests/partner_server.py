"""A local delivery partner for tests and the benchmark: a real HTTP server in a thread that
checks our signature and can be slow, fail the first N attempts per shipment (5xx or 429 with
Retry-After), answer a permanent 4xx, or accept the same shipment again (2xx twice)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fulfillment.domain import verify_signature


@dataclass
class Received:
    key: str
    body: bytes
    signature_ok: bool
    at: float
    wall: float = 0.0  # time.time() when the request arrived (latency vs database times)


@dataclass
class Behaviour:
    delay_seconds: float = 0.0
    fail_first: int = 0  # per idempotency key
    fail_status: int = 503
    retry_after: str | None = None
    permanent_status: int | None = None  # e.g. 422: refuse every request


@dataclass
class PartnerServer:
    secret: str
    behaviour: Behaviour = field(default_factory=Behaviour)
    received: list[Received] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/dispatch"

    def accepted_keys(self) -> set[str]:
        with self.lock:
            return {r.key for r in self.received if r.signature_ok}

    def bodies_by_key(self) -> dict[str, set[bytes]]:
        out: dict[str, set[bytes]] = defaultdict(set)
        with self.lock:
            for r in self.received:
                out[r.key].add(r.body)
        return out

    def start(self, port: int = 0) -> PartnerServer:
        partner = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as a real partner's server does: on HTTP/1.0 every dispatch paid a
            # new TCP connection, a new server thread and a close on both sides.
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: without this, the body waited for the client's
            # delayed ACK (~40 ms) on a kept-alive connection.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                key = self.headers.get("Idempotency-Key", "")
                ok = (
                    verify_signature(
                        partner.secret,
                        body,
                        self.headers.get("Hotline-Signature"),
                        int(time.time()),
                    )
                    is None
                )
                b = partner.behaviour
                with partner.lock:
                    partner.attempts[key] += 1
                    attempt = partner.attempts[key]
                    partner.received.append(Received(key, body, ok, time.monotonic(), time.time()))
                if b.delay_seconds:
                    time.sleep(b.delay_seconds)
                if not ok:
                    return self._answer(401, {"error": "bad signature"})
                if b.permanent_status is not None:
                    return self._answer(b.permanent_status, {"error": "refused"})
                if attempt <= b.fail_first:
                    headers = {"Retry-After": b.retry_after} if b.retry_after else {}
                    return self._answer(b.fail_status, {"error": "try later"}, headers)
                return self._answer(200, {"tracking_number": f"TN-{key[:10]}"})

            def _answer(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

        class Server(ThreadingHTTPServer):
            # socketserver's default listen backlog is 5: a burst of concurrent dispatches
            # overflowed it and each dropped SYN cost the client a 1 s (then 3 s) retransmit,
            # which no real partner's server (backlog in the hundreds) would impose.
            request_queue_size = 128

            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that gave up (its timeout) before the slow answer: expected here.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self._server = Server(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


if __name__ == "__main__":  # a demo courier: python -m tests.partner_server [port] [secret]
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
    secret = sys.argv[2] if len(sys.argv) > 2 else "demo-partner-secret-change-me"
    server = PartnerServer(secret=secret).start(port)
    print(f"demo partner listening on {server.url}")
    threading.Event().wait()
