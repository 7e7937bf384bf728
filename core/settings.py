"""Configuration from HOTLINE_* environment variables, validated once at start.

A bad value stops the process with a message naming the variable, so an operator
never learns about a typo from a stack trace at the first request.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers

DEMO_SECRET = "demo-secret-change-me-demo-secret-change-me"  # noqa: S105 - refused in production


class SettingsError(ValueError):
    """A HOTLINE_* variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    env: str = "demo"  # demo | test | production
    database_url: str = "sqlite+aiosqlite:///./hotline.db"
    redis_url: str = ""  # empty: in-memory counters and in-process worker
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: str = DEMO_SECRET
    access_token_minutes: int = 15
    agent_token_minutes: int = 480
    default_region: str = "CN"
    currency: str = "CNY"
    timezone: str = "Asia/Shanghai"
    hold_minutes: int = 15
    booking_fee: int = 500  # minor units per order
    courier_fee: int = 1500  # minor units per courier delivery
    eticket_fee: int = 0  # minor units per e-ticket delivery (free by default)
    test_unguarded_holds: int = 0  # 1: the oversell canary's unguarded hold; test env only
    pin_max_failures: int = 10
    pin_delay_after: int = 3
    ip_limit_per_minute: int = 60
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 5
    verification_minutes: int = 15
    stripe_api_key: str = ""
    stripe_api_base: str = ""
    stripe_webhook_secret: str = ""
    stripe_publishable_key: str = ""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    public_base_url: str = "http://127.0.0.1:8000"  # load_settings: follows host and port
    sms_sender: str = "sink"  # sink | twilio
    twilio_auth_token: str = ""
    twilio_account_sid: str = ""
    twilio_from: str = ""  # the sender number, E.164
    twilio_base_url: str = "https://api.twilio.com"  # a Twilio-compatible gateway's base
    # SMS channel (api/sms_channel): replies budgeted against SMS pumping.
    sms_replies_per_hour: int = 30  # to one number; then one notice, then silence
    sms_unknown_replies_per_hour: int = 100  # enrollment hints to all unknown numbers
    sms_hint_days: int = 30  # an unknown number gets one hint in this many days
    redis_prefix: str = "hotline"
    # The voice channel (api/voice_*.py): a call's menu state lives this long in Redis after
    # its last step; the keypad waits this long for a key; answered within this is on target.
    voice_state_ttl_seconds: int = 3600
    voice_gather_timeout_seconds: int = 6
    voice_service_level_seconds: int = 20
    worker: str = "inprocess"  # inprocess | dramatiq
    # Reconciliation: how long a counterparty may take to book what we booked (a line of ours
    # missing at their side is `pending`, not `missing_at_counterparty`, inside it).
    recon_window_hours: int = 48
    outbox_retention_hours: int = 168  # sent outbox messages are deleted after this
    idempotency_retention_hours: int = 24  # used Idempotency-Keys are deleted after this
    # Partner dispatch (fulfillment.RetryPolicy; api.composition builds it from these).
    dispatch_max_attempts: int = 8
    dispatch_max_redeliveries: int = 3
    dispatch_base_seconds: float = 2.0
    dispatch_cap_seconds: float = 600.0
    dispatch_timeout_seconds: float = 10.0
    dispatch_lease_seconds: float = 30.0
    dispatch_watchdog_seconds: float = 60.0
    dispatch_redeliver_seconds: float = 45.0
    # `hotline worker` processes (api.worker).
    worker_threads: int = 4
    worker_periodic: int = 1  # 0: this worker runs no periodic jobs
    worker_metrics_port: int = 0  # 0: no Prometheus endpoint of its own
    dramatiq_heartbeat_ms: int = 60_000  # Dramatiq's default; tests shorten it
    dramatiq_maintenance_chance: int = 1_000  # Dramatiq's default (1 in N)
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_INT_FIELDS = {f.name for f in fields(Settings) if f.type in ("int", int)}
_FLOAT_FIELDS = {f.name for f in fields(Settings) if f.type in ("float", float)}
_NOT_NEGATIVE = {"booking_fee", "courier_fee", "eticket_fee", "worker_metrics_port"}
_FLAGS = {"test_unguarded_holds", "worker_periodic"}  # 0 or 1
_POSITIVE = _INT_FIELDS - _NOT_NEGATIVE - _FLAGS


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read HOTLINE_* variables; raise SettingsError naming the first bad one."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        var = f"HOTLINE_{f.name.upper()}"
        if var not in env:
            continue
        raw = env[var].strip()
        if f.name in _INT_FIELDS:
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise SettingsError(f"{var} must be a whole number, got {raw!r}") from None
        elif f.name in _FLOAT_FIELDS:
            try:
                values[f.name] = float(raw)
            except ValueError:
                raise SettingsError(f"{var} must be a number, got {raw!r}") from None
        else:
            values[f.name] = raw
    values.update(overrides)
    if "public_base_url" not in values:
        # Pay links must reach this server: follow HOTLINE_HOST/HOTLINE_PORT unless told.
        values["public_base_url"] = default_public_base_url(
            str(values.get("host", Settings.host)), values.get("port", Settings.port)
        )
    settings = Settings(**values)
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if s.env not in {"demo", "test", "production"}:
        raise SettingsError("HOTLINE_ENV must be one of demo, test, production")
    for name in _POSITIVE:
        if getattr(s, name) <= 0:
            raise SettingsError(f"HOTLINE_{name.upper()} must be positive")
    for name in sorted(_FLOAT_FIELDS):
        value = getattr(s, name)
        if not value > 0 or value == float("inf"):  # also refuses nan
            raise SettingsError(f"HOTLINE_{name.upper()} must be a positive number")
    for name in sorted(_FLAGS):
        if getattr(s, name) not in (0, 1):
            raise SettingsError(f"HOTLINE_{name.upper()} must be 0 or 1")
    for name in sorted(_NOT_NEGATIVE):
        if getattr(s, name) < 0:
            raise SettingsError(f"HOTLINE_{name.upper()} must not be negative")
    if s.idempotency_retention_hours < 24:
        # Clients may retry with the same key for 24 hours (core.idempotency.KEY_TTL).
        raise SettingsError("HOTLINE_IDEMPOTENCY_RETENTION_HOURS must be at least 24")
    if s.test_unguarded_holds and s.env != "test":
        # It lets capacity holds oversell on purpose (the canary test); never outside tests.
        raise SettingsError("HOTLINE_TEST_UNGUARDED_HOLDS is refused unless HOTLINE_ENV=test")
    if s.dispatch_lease_seconds <= s.dispatch_timeout_seconds:
        # The watchdog presumes a dispatch dead once its lease lapses: a partner call still
        # waiting for its answer then would be sent a second time while the first runs.
        raise SettingsError(
            f"HOTLINE_DISPATCH_LEASE_SECONDS ({s.dispatch_lease_seconds:g}) must be longer than "
            f"HOTLINE_DISPATCH_TIMEOUT_SECONDS ({s.dispatch_timeout_seconds:g}), or a partner "
            "call still running when its lease lapses is sent again"
        )
    if not (0 < s.port < 65536):
        raise SettingsError("HOTLINE_PORT must be between 1 and 65535")
    if s.worker_metrics_port > 65535:
        raise SettingsError("HOTLINE_WORKER_METRICS_PORT must be between 0 and 65535")
    if not s.database_url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        raise SettingsError(
            "HOTLINE_DATABASE_URL must start with postgresql+asyncpg:// or sqlite+aiosqlite://"
        )
    if s.redis_url and not s.redis_url.startswith(("redis://", "rediss://")):
        raise SettingsError("HOTLINE_REDIS_URL must start with redis:// or rediss://")
    if s.default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise SettingsError(f"HOTLINE_DEFAULT_REGION {s.default_region!r} is not a region code")
    if len(s.currency) != 3 or not s.currency.isalpha() or not s.currency.isupper():
        raise SettingsError("HOTLINE_CURRENCY must be an ISO 4217 code such as CNY")
    try:
        ZoneInfo(s.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"HOTLINE_TIMEZONE {s.timezone!r} is not an IANA zone") from None
    if s.sms_sender not in {"sink", "twilio"}:
        raise SettingsError("HOTLINE_SMS_SENDER must be sink or twilio")
    if s.sms_sender == "twilio":
        # Checked at start: a sender missing its account would otherwise fail on the first
        # one-time code, in front of a customer.
        for name in ("twilio_account_sid", "twilio_auth_token", "twilio_from"):
            if not getattr(s, name):
                raise SettingsError(
                    f"HOTLINE_{name.upper()} is required with HOTLINE_SMS_SENDER=twilio"
                )
        if not s.twilio_base_url.startswith(("https://", "http://")):
            raise SettingsError("HOTLINE_TWILIO_BASE_URL must be an http(s) URL")
    if s.worker not in {"inprocess", "dramatiq"}:
        raise SettingsError("HOTLINE_WORKER must be inprocess or dramatiq")
    if s.worker == "dramatiq" and not s.redis_url:
        raise SettingsError("HOTLINE_WORKER=dramatiq needs HOTLINE_REDIS_URL")
    if s.is_production:
        if s.secret_key == DEMO_SECRET or len(s.secret_key) < 32:
            raise SettingsError(
                "HOTLINE_SECRET_KEY must be set to a random value of 32+ characters in production"
            )
        if s.database_url.startswith("sqlite"):
            raise SettingsError("HOTLINE_DATABASE_URL must be PostgreSQL in production")
        if not s.redis_url:
            raise SettingsError("HOTLINE_REDIS_URL is required in production")
        if s.sms_sender == "sink":
            raise SettingsError("HOTLINE_SMS_SENDER=sink is a demo sender; refused in production")


def default_public_base_url(host: str, port: object) -> str:
    """Where a browser on this machine reaches the server (a wildcard bind is not an address)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared only
    if ":" in shown:  # an IPv6 literal
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def random_secret() -> str:
    return secrets.token_urlsafe(48)
