"""A Twilio-compatible Messages API for tests: a real HTTP server on loopback, in a thread,
that checks Basic auth, records every text it accepts with the `sid` it answered, and can
refuse (a status code) or run a check of the test's (`on_send`) while the request is open."""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Text:
    sid: str
    to: str
    sender: str
    body: str
    status_callback: str = ""


@dataclass
class TwilioServer:
    account_sid: str = "AC" + "0" * 32
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    answer_status: int = 201  # e.g. 503: an outage, 400: the number is refused
    on_send: Callable[[Text], None] | None = None
    texts: list[Text] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def to(self, phone: str) -> list[Text]:
        with self.lock:
            return [t for t in self.texts if t.to == phone]

    def start(self) -> TwilioServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = (
                    "Basic "
                    + base64.b64encode(f"{owner.account_sid}:{owner.auth_token}".encode()).decode()
                )
                path = f"/2010-04-01/Accounts/{owner.account_sid}/Messages.json"
                if self.path != path or self.headers.get("Authorization") != expected:
                    self._answer(401, {"code": 20003, "message": "Authenticate"})
                    return
                if owner.answer_status >= 300:
                    self._answer(owner.answer_status, {"code": 21211, "message": "refused"})
                    return
                form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                text = Text(
                    "SM" + secrets.token_hex(16),
                    form["To"],
                    form["From"],
                    form["Body"],
                    form.get("StatusCallback", ""),
                )
                if owner.on_send is not None:
                    owner.on_send(text)
                with owner.lock:
                    owner.texts.append(text)
                self._answer(201, {"sid": text.sid, "status": "queued", "to": text.to})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
