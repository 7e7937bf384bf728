"""What is on and what is off, said once at start-up: an operator reading the log (or a
newcomer reading `make run`'s output) knows whether cards, SMS, Redis, the worker and the demo
helpers are real, stand-ins or missing, without reading the configuration."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from core.settings import Settings

log = structlog.get_logger("hotline.startup")


@dataclass(frozen=True)
class Component:
    name: str
    on: bool
    detail: str

    def line(self) -> str:
        return f"{self.name:<16} {'ON ' if self.on else 'OFF'}  {self.detail}"


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url.split("://", 1)[0]


def components(s: Settings) -> list[Component]:
    demo = s.env == "demo"
    sqlite = s.database_url.startswith("sqlite")
    if s.stripe_api_key:
        kind = "test key" if s.stripe_api_key.startswith("sk_test") else "live key"
        cards = Component("cards", True, f"Stripe ({kind}) at {s.stripe_api_base or 'stripe.com'}")
    elif demo:
        cards = Component("cards", True, "DEMO gateway: test cards only, no real card, no money")
    else:
        cards = Component("cards", False, "no HOTLINE_STRIPE_API_KEY: carrier billing only")
    inprocess = s.worker == "inprocess"
    return [
        Component("environment", True, f"HOTLINE_ENV={s.env}"),
        Component(
            "database", True, "SQLite file" if sqlite else f"PostgreSQL at {_host(s.database_url)}"
        ),
        Component(
            "redis",
            bool(s.redis_url),
            f"at {_host(s.redis_url)}, prefix {s.redis_prefix}"
            if s.redis_url
            else "in-memory throttle counters (one process only)",
        ),
        Component(
            "worker",
            True,
            "in-process: jobs and periodic jobs run in this server"
            if inprocess
            else "dramatiq: jobs and periodic jobs run in `hotline worker`",
        ),
        cards,
        Component(
            "stripe webhooks",
            bool(s.stripe_webhook_secret),
            "Stripe-Signature verified" if s.stripe_webhook_secret else "no webhook secret",
        ),
        Component(
            "twilio webhooks",
            bool(s.twilio_auth_token),
            "X-Twilio-Signature verified (SMS and voice)"
            if s.twilio_auth_token
            else "no HOTLINE_TWILIO_AUTH_TOKEN: the SMS and voice webhooks refuse everything (403)",
        ),
        Component("carrier billing", True, "phone-account balance + credit limit"),
        Component(
            "sms",
            True,
            "sink: nothing is sent, read GET /v1/admin/sms-outbox"
            if s.sms_sender == "sink"
            else f"Twilio from {s.twilio_from}",
        ),
        Component(
            "demo courier",
            demo,
            "the seeded `ems` partner is answered by this app (/demo/courier/dispatch)"
            if demo
            else "partners are real endpoints",
        ),
        Component(
            "demo seed",
            demo and sqlite,
            "demo agents, customers and catalog" if demo and sqlite else "no demo data",
        ),
        Component("pay links", True, f"{s.public_base_url}/pay/..."),
        Component("console", True, f"{s.public_base_url}/console/ (agents, supervisors)"),
        Component("web shop", True, f"{s.public_base_url}/shop/ (customers)"),
        Component("api docs", True, f"{s.public_base_url}/schema (reference: docs/http-api.md)"),
    ]


def report(s: Settings) -> None:
    """Log every component once, at start-up."""
    for c in components(s):
        log.info(f"{c.name}: {'on' if c.on else 'off'}", detail=c.detail)
