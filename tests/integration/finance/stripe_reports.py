"""A loopback stand-in for Stripe's current reporting endpoints, which localstripe 1.15 lacks
(it lists balance transactions only at /v1/balance/history, always with fee 0, and has no
`payout` filter): GET /v1/balance_transactions (cursor pages, `created` and `payout`
filters, `data.source` expanded), GET /v1/payouts and /v1/payouts/{id}. The real
`StripeGateway` (the official SDK over HTTP) talks to it; `requests` shows each page asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class StripeReports:
    transactions: list[dict[str, Any]] = field(default_factory=list)
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)  # payout -> txn ids
    requests: list[str] = field(default_factory=list)
    url: str = ""

    def txn(self, **fields: Any) -> dict[str, Any]:
        t = {"object": "balance_transaction", "status": "available", "fee": 0, **fields}
        t.setdefault("net", t["amount"] - t["fee"])
        self.transactions.append(t)
        return t

    def payout(self, pid: str, amount: int, arrival: int, txns: list[dict[str, Any]]) -> None:
        self.payouts[pid] = {
            "id": pid,
            "object": "payout",
            "amount": amount,
            "currency": "cny",
            "status": "paid",
            "arrival_date": arrival,
            "created": arrival - 3600,
        }
        self.members[pid] = [t["id"] for t in txns]

    def answer(self, target: str) -> tuple[int, dict[str, Any]]:
        self.requests.append(target)
        url = urlsplit(target)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/v1/payouts/"):
            found = self.payouts.get(url.path.rsplit("/", 1)[1])
            if found is None:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such payout",
                    }
                }
            return 200, found
        if url.path == "/v1/payouts":
            rows = [
                p for p in self.payouts.values() if _within(p["arrival_date"], q, "arrival_date")
            ]
            return 200, _page(rows, q, "/v1/payouts")
        if url.path == "/v1/balance_transactions":
            rows = self.transactions
            if "payout" in q:
                ids = set(self.members.get(q["payout"], []))
                rows = [t for t in rows if t["id"] in ids]
            rows = [t for t in rows if _within(t["created"], q, "created")]
            return 200, _page(rows, q, "/v1/balance_transactions")
        return 404, {"error": {"type": "invalid_request_error", "message": f"no {url.path}"}}


def _within(value: int, q: dict[str, str], name: str) -> bool:
    lo, hi = q.get(f"{name}[gte]"), q.get(f"{name}[lt]")
    return (lo is None or value >= int(lo)) and (hi is None or value < int(hi))


def _page(rows: list[dict[str, Any]], q: dict[str, str], url: str) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: (-r.get("created", 0), r["id"]))  # newest first
    after = q.get("starting_after")
    if after:
        ordered = ordered[[r["id"] for r in ordered].index(after) + 1 :]
    limit = int(q.get("limit", 10))
    return {"object": "list", "url": url, "data": ordered[:limit], "has_more": len(ordered) > limit}


@contextmanager
def serve_reports(reports: StripeReports) -> Iterator[StripeReports]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = reports.answer(self.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    reports.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield reports
    finally:
        server.shutdown()
        server.server_close()
