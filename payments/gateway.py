"""The card gateway port and its Stripe adapter (official SDK, `StripeClient`).

Every write carries an idempotency key derived from our own ids, so a retry after a timeout
returns the first result instead of charging twice. A timeout or a 5xx raises
`GatewayUnknown`: the caller records the attempt as `unknown` and the sweeper asks again.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
import msgspec
import stripe

from core.http import LoopSession


@dataclass(frozen=True, slots=True)
class Intent:
    id: str
    status: str  # Stripe PaymentIntent status
    amount: int
    currency: str
    client_secret: str | None = None
    payment_method: str | None = None
    amount_refunded: int = 0
    metadata: dict[str, str] | None = None
    # The gateway's facts finance reconciles by (None where the answer did not carry them).
    charge_id: str | None = None
    balance_transaction_id: str | None = None
    fee: int | None = None


@dataclass(frozen=True, slots=True)
class SetupIntent:
    id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class Dispute:
    id: str
    amount: int
    currency: str
    payment_intent: str | None = None


@dataclass(frozen=True, slots=True)
class GatewayRefund:
    id: str
    status: str
    balance_transaction_id: str | None = None


class GatewayError(Exception):
    """The gateway refused the request (bad request, declined card...)."""

    def __init__(self, message: str, *, declined: bool = False, intent: Intent | None = None):
        super().__init__(message)
        self.declined = declined
        self.intent = intent


class GatewayNotFound(GatewayError):
    """The gateway has no such object (Stripe: 404 `resource_missing`): asking again will not
    make it appear."""


class NotAnEventBody(GatewayError):
    """A webhook body whose signature held but which is no JSON object."""


class GatewayUnknown(Exception):
    """Timeout, connection error or 5xx: the request may or may not have happened."""


class Gateway(Protocol):
    async def create_setup_intent(
        self, *, metadata: dict[str, str], idempotency_key: str
    ) -> SetupIntent: ...

    async def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent: ...

    async def retrieve_intent(self, intent_id: str) -> Intent: ...

    async def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> Intent: ...

    async def capture_intent(self, intent_id: str, *, idempotency_key: str) -> Intent: ...

    async def refund(
        self, intent_id: str, *, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> GatewayRefund: ...

    async def retrieve_dispute(self, dispute_id: str) -> Dispute: ...


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _refunded(obj: dict[str, Any]) -> int:
    """What the intent's charge has refunded. Current API versions carry it on `latest_charge`
    (an id unless expanded); only old versions, and localstripe, list `charges` as well."""
    latest = obj.get("latest_charge")
    if isinstance(latest, dict):
        return int(latest.get("amount_refunded") or 0)
    charges = obj.get("charges") or {}
    refunded = 0
    for charge in (charges.get("data") if hasattr(charges, "get") else None) or []:
        refunded += int(charge.get("amount_refunded") or 0)
    return refunded


def _charge_facts(obj: dict[str, Any]) -> tuple[str | None, str | None, int | None]:
    """(charge id, balance transaction id, fee) of the intent's charge: `latest_charge`
    (expanded with its balance transaction) on current API versions, `charges` on old ones
    and localstripe. The fee is known only when the balance transaction came expanded."""
    charge = obj.get("latest_charge")
    if not isinstance(charge, dict):
        listed = (obj.get("charges") or {}).get("data") or []
        charge = listed[-1] if listed and isinstance(listed[-1], dict) else None
    if charge is None:
        latest = obj.get("latest_charge")
        return (latest if isinstance(latest, str) else None), None, None
    txn = charge.get("balance_transaction")
    if isinstance(txn, dict):
        return charge.get("id"), txn.get("id"), int(txn.get("fee") or 0)
    return charge.get("id"), txn if isinstance(txn, str) else None, None


def _intent(raw: Any, *, refunded: int | None = None) -> Intent:
    obj = _plain(raw)
    pm = obj.get("payment_method")
    refunded = _refunded(obj) if refunded is None else refunded
    charge_id, txn_id, fee = _charge_facts(obj)
    return Intent(
        id=obj["id"],
        status=obj["status"],
        amount=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
        client_secret=obj.get("client_secret"),
        payment_method=pm if isinstance(pm, str) or pm is None else pm.get("id"),
        amount_refunded=refunded,
        metadata=dict(obj.get("metadata") or {}),
        charge_id=charge_id,
        balance_transaction_id=txn_id,
        fee=fee,
    )


class StripeGateway:
    """Adapter on the official SDK; `api_base` points it at localstripe in tests and demos."""

    def __init__(self, api_key: str, *, api_base: str = "", timeout: float = 10.0) -> None:
        kwargs: dict[str, Any] = {}
        if api_base:
            kwargs["base_addresses"] = {"api": api_base.rstrip("/")}
        self.client = stripe.StripeClient(
            api_key,
            http_client=stripe.HTTPXClient(timeout=timeout),
            max_network_retries=0,  # we retry ourselves, with the same idempotency key
            **kwargs,
        )
        # The PaymentIntent read every webhook makes (see `retrieve_intent`), without the SDK.
        self._base = (api_base or stripe.DEFAULT_API_BASE).rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Stripe-Version": stripe.api_version}
        # httpx's timeout as the SDK's client has it: each phase (connect or a wait for the
        # pool, each read) at most `timeout`.
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        # As many connections as httpx's pool allowed (100), all kept alive: one per webhook
        # in flight at the concurrency a server sees.
        self._reads = LoopSession(
            lambda: aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=100, limit_per_host=0),
            )
        )

    async def aclose(self) -> None:
        """Close the read session's connections (at shutdown)."""
        await self._reads.aclose()

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except stripe.CardError as exc:
            raise GatewayError(str(exc.user_message or exc), declined=True) from exc
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise GatewayUnknown(str(exc)) from exc
        except stripe.StripeError as exc:
            # 409: a request with this idempotency key is still in flight (e.g. the sweeper's
            # retry overtook a slow first try); its outcome is not known yet.
            if exc.http_status is None or exc.http_status >= 500 or exc.http_status == 409:
                raise GatewayUnknown(str(exc)) from exc
            if exc.http_status == 404 or exc.code == "resource_missing":
                raise GatewayNotFound(str(exc.user_message or exc)) from exc
            raise GatewayError(str(exc.user_message or exc)) from exc

    async def create_setup_intent(
        self, *, metadata: dict[str, str], idempotency_key: str
    ) -> SetupIntent:
        obj = await self._call(
            self.client.v1.setup_intents.create_async,
            {"usage": "off_session", "metadata": metadata},
            {"idempotency_key": idempotency_key},
        )
        return SetupIntent(id=obj["id"], client_secret=obj["client_secret"])

    async def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Intent:
        obj = await self._call(
            self.client.v1.payment_intents.create_async,
            {
                "amount": amount,
                "currency": currency.lower(),
                "payment_method": payment_method,
                "confirm": True,
                "metadata": metadata,
            },
            {"idempotency_key": idempotency_key},
        )
        return _intent(obj)

    async def retrieve_intent(self, intent_id: str) -> Intent:
        """The PaymentIntent as Stripe has it now, its charge and balance transaction expanded.

        A plain GET on aiohttp, not the SDK: every webhook event asks this, and in a profile of
        bench/payments.py the SDK's own work around the request (its request options, the
        StripeObject tree built from the answer, two log records) was a third of the
        webhook's time in the gateway. Not httpx either: it was 60% of the webhook's CPU,
        and bench/http_client_cpu.py measures its pool and anyio layers at 1.3-1.4 ms of
        client CPU per GET at 16 in flight (0.7-0.9 ms one at a time) against 0.07-0.11 ms
        (0.19-0.23 ms) for aiohttp's (C parser, plain asyncio). Same request as the SDK's
        (path, expansion, key, API version), same answers as `_call`
        (test_payments_lean_read.py checks both ways agree)."""
        obj = await self._get(f"/v1/payment_intents/{quote(intent_id, safe='')}", _EXPAND)
        latest = obj.get("latest_charge")
        if isinstance(latest, str):  # not expanded after all: ask for the charge itself
            charge = _plain(await self._call(self.client.v1.charges.retrieve_async, latest))
            return _intent(obj, refunded=int(charge.get("amount_refunded") or 0))
        return _intent(obj)

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        """GET one object; trouble raised as `_call` raises it for the SDK's errors."""
        try:
            reader = self._reads.get()
            async with reader.get(
                self._base + path, params=params, allow_redirects=False
            ) as response:
                status = response.status
                content = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            # timeout, refused, reset: it may or may not have run
            raise GatewayUnknown(f"{type(exc).__name__}: {exc}") from exc
        try:
            body = msgspec.json.decode(content)
        except msgspec.DecodeError:
            body = None
        if status == 200 and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or f"HTTP {status} from the gateway")
        if status >= 500 or status in (409, 429):  # the SDK's APIError, RateLimitError
            raise GatewayUnknown(message)
        if status == 404 or error.get("code") == "resource_missing":
            raise GatewayNotFound(message)
        raise GatewayError(message, declined=error.get("type") == "card_error")

    async def cancel_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        obj = await self._call(
            self.client.v1.payment_intents.cancel_async,
            intent_id,
            None,
            {"idempotency_key": idempotency_key},
        )
        return _intent(obj)

    async def capture_intent(self, intent_id: str, *, idempotency_key: str) -> Intent:
        obj = await self._call(
            self.client.v1.payment_intents.capture_async,
            intent_id,
            None,
            {"idempotency_key": idempotency_key},
        )
        return _intent(obj)

    async def refund(
        self, intent_id: str, *, amount: int, metadata: dict[str, str], idempotency_key: str
    ) -> GatewayRefund:
        obj = await self._call(
            self.client.v1.refunds.create_async,
            {"payment_intent": intent_id, "amount": amount, "metadata": metadata},
            {"idempotency_key": idempotency_key},
        )
        plain = _plain(obj)
        return GatewayRefund(
            id=plain["id"],
            status=plain.get("status") or "succeeded",
            balance_transaction_id=_id_of(plain.get("balance_transaction")),
        )

    async def retrieve_dispute(self, dispute_id: str) -> Dispute:
        obj = _plain(await self._call(self.client.v1.disputes.retrieve_async, dispute_id))
        pi = obj.get("payment_intent")
        return Dispute(
            id=obj["id"],
            amount=int(obj.get("amount") or 0),
            currency=str(obj.get("currency") or "").upper(),
            payment_intent=pi if isinstance(pi, str) or pi is None else pi.get("id"),
        )

    # Finance's reports (payments.recon_stripe): listed with the SDK's auto-pagination.
    async def _pages(self, lister: Any, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        page = await self._call(lister, params)
        items = page.auto_paging_iter()
        while True:
            try:
                item = await self._call(items.__anext__)
            except StopAsyncIteration:
                return
            yield _plain(item)

    def balance_transactions(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self._pages(self.client.v1.balance_transactions.list_async, params)

    def payouts(self, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        return self._pages(self.client.v1.payouts.list_async, params)

    async def payout(self, payout_id: str) -> dict[str, Any]:
        return _plain(await self._call(self.client.v1.payouts.retrieve_async, payout_id))


_EXPAND = {"expand[0]": "latest_charge.balance_transaction"}


def _id_of(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("id")
    return value if isinstance(value, str) else None


def _signed_at(signature: str) -> int | None:
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def verify_webhook(payload: bytes, signature: str | None, secret: str, tolerance: int = 300) -> Any:
    """Check `Stripe-Signature` on the raw body (5-minute tolerance each way); return the event
    as plain JSON. The SDK checks the signature; the body is then decoded as JSON, not built
    into the SDK's object tree (construct_event) only to be turned back into dicts: that was a
    visible share of every webhook's time in a profile of bench/payments.py."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature or "", secret, tolerance)
    except (stripe.SignatureVerificationError, ValueError) as exc:
        raise GatewayError(f"bad signature: {exc}") from exc
    # The SDK only refuses old timestamps; one far ahead would let a captured body be replayed
    # until then (e.g. signed with a leaked secret), so the window is symmetric.
    signed_at = _signed_at(signature or "")
    if signed_at is None or abs(time.time() - signed_at) > tolerance:
        raise GatewayError("bad signature: timestamp outside the tolerance zone")
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8), or nested past the decoder
        event = None
    if not isinstance(event, dict):
        # The signature held, so the sender has our secret: saying "bad signature" would send
        # it looking in the wrong place. `[]`, `null`, a string or no JSON at all is no event.
        raise NotAnEventBody("not a Stripe event: the body is not a JSON object")
    return event
