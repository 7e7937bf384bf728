"""Partner adapter: the signed JSON dispatch of docs/http-api.md over HTTP (httpx).

The body is serialised canonically, so the same shipment always sends the same bytes; only the
signature timestamp changes between attempts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from fulfillment.domain import parse_retry_after, sign


def canonical_body(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class DispatchResult:
    status_code: int | None  # None: no answer (timeout, connection refused)
    tracking_number: str | None = None
    retry_after: float | None = None
    error: str | None = None


class PartnerClient(Protocol):
    async def dispatch(
        self, endpoint_url: str, secret: str, shipment_id: str, body: dict[str, Any], now_ts: int
    ) -> DispatchResult: ...


class HttpPartnerClient:
    """One POST per attempt; retries are scheduled by the service, never looped here, so a
    crashed worker leaves nothing half-remembered in memory."""

    def __init__(
        self, *, timeout_seconds: float = 10.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.timeout = timeout_seconds
        self.transport = transport
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # One pooled client per process (connection reuse; building one costs an SSL context).
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout, transport=self.transport)
        return self._client

    async def dispatch(
        self, endpoint_url: str, secret: str, shipment_id: str, body: dict[str, Any], now_ts: int
    ) -> DispatchResult:
        raw = canonical_body(body)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": shipment_id,
            "Hotline-Signature": sign(secret, raw, now_ts),
        }
        try:
            response = await self._http().post(endpoint_url, content=raw, headers=headers)
        except httpx.HTTPError as exc:
            return DispatchResult(None, error=f"{type(exc).__name__}: {exc}"[:300])
        tracking: str | None = None
        if 200 <= response.status_code < 300:
            try:
                data = response.json()
                tracking = str(data["tracking_number"]) if data.get("tracking_number") else None
            except (ValueError, AttributeError, KeyError):
                tracking = None
        return DispatchResult(
            response.status_code,
            tracking_number=tracking,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            error=None if response.is_success else f"HTTP {response.status_code}",
        )
