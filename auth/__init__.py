"""Identity: customers, agents, tokens, throttling, one-time codes, caller verification."""

from __future__ import annotations

from auth.agents import create_agent
from auth.errors import AccountLocked, VerificationRequired
from auth.models import Agent, AuditEvent, CallerVerification, Customer
from auth.service import (
    agent_token,
    build_throttle,
    check_verification,
    create_customer,
    customer_token,
    find_customer_by_phone,
    get_agent,
    get_customer,
    token_version_ok,
    token_version_ok_on,
)
from auth.throttle import Throttle
from auth.tokens import decode as decode_token

__all__ = [
    "AccountLocked",
    "Agent",
    "AuditEvent",
    "CallerVerification",
    "Customer",
    "Throttle",
    "VerificationRequired",
    "agent_token",
    "build_throttle",
    "check_verification",
    "create_agent",
    "create_customer",
    "customer_token",
    "decode_token",
    "find_customer_by_phone",
    "get_agent",
    "get_customer",
    "token_version_ok",
    "token_version_ok_on",
]
