"""What is on and what is off, said once at start-up: an operator reading the log (or a
newcomer reading `make run`'s output) knows whether cards, SMS, Redis, the worker and the demo
helpers are real, stand-ins or missing, without reading the configuration. A component that
is configured but not working (Redis not answering) is a warning line saying what that stops."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit

import structlog

from core.settings import Settings

log = structlog.get_logger("hotline.startup")
# Start-up waits no longer than this for Redis, and never fails for it: the app serves
# through an outage (README, Operations) and picks Redis up when it answers.
PROBE_SECONDS = 1.0


@dataclass(frozen=True)
class Component:
    name: str
    on: bool
    detail: str
    warning: str = ""  # configured but not working: what an operator must know

    def line(self) -> str:
        extra = f"  WARNING {self.warning}" if self.warning else ""
        return f"{self.name:<16} {'ON ' if self.on else 'OFF'}  {self.detail}{extra}"


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.hostname or url.split("://", 1)[0]


async def redis_problem(s: Settings) -> str | None:
    """Why the configured Redis does not answer a PING within PROBE_SECONDS; None when it
    does or none is configured."""
    if not s.redis_url:
        return None
    import redis.asyncio as aioredis

    client = aioredis.from_url(
        s.redis_url, socket_connect_timeout=PROBE_SECONDS, socket_timeout=PROBE_SECONDS
    )
    try:
        await asyncio.wait_for(client.ping(), PROBE_SECONDS)
        return None
    except Exception as exc:  # reported, never raised: start-up goes on
        return f"{type(exc).__name__}: {exc}"[:200] if str(exc) else type(exc).__name__
    finally:
        await client.aclose()


def _redis_down(s: Settings, problem: str) -> str:
    """What this code does without Redis, until it answers again."""
    jobs = "; outbox jobs wait in PostgreSQL (no Dramatiq)" if s.worker == "dramatiq" else ""
    return (
        f"UNREACHABLE ({problem}): until it answers, signing in to the console and the shop and "
        "every signed-in page answer 503, /ready answers 503, login throttles and IVR call "
        f"states are kept per process, live page updates are lost{jobs}"
    )


def components(s: Settings, redis_problem: str | None = None) -> list[Component]:
    """`redis_problem`: what `redis_problem()` found, when start-up asked."""
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
            _redis_down(s, redis_problem) if s.redis_url and redis_problem else "",
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


def report(s: Settings, redis_problem: str | None = None) -> None:
    """Log every component once, at start-up."""
    for c in components(s, redis_problem):
        state = "on" if c.on else "off"
        if c.warning:
            log.warning(f"{c.name}: {state}, {c.warning}", detail=c.detail)
        else:
            log.info(f"{c.name}: {state}", detail=c.detail)
