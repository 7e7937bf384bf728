"""Identity: customers, agents, tokens, throttling, one-time codes, caller verification."""

from __future__ import annotations

from auth.agents import change_own_password, create_agent, login_agent
from auth.codes import confirm_code, send_code
from auth.errors import AccountLocked, CallerPinWrong, VerificationRequired
from auth.keypad import (
    caller_account_on,
    claim_verification,
    get_verification,
    verify_by_keypad,
)
from auth.models import Agent, AuditEvent, CallerVerification, Customer
from auth.schemas import (
    AgentIn,
    AgentOut,
    AgentTokenIn,
    CustomerIn,
    CustomerOut,
    EnrollmentConfirmIn,
    EnrollmentIn,
    MeOut,
    PasswordChangeIn,
    PinChangeIn,
    SmsOut,
    TokenIn,
    TokenOut,
    VerifyIn,
    VerifyOut,
)
from auth.service import (
    agent_token,
    build_throttle,
    change_own_pin,
    check_verification,
    create_customer,
    customer_token,
    find_customer_by_phone,
    get_agent,
    get_customer,
    login_customer,
    phone_or_422,
    token_version_ok,
    token_version_ok_on,
    verify_caller,
)
from auth.throttle import Throttle
from auth.tokens import decode as decode_token

__all__ = [
    "AccountLocked",
    "Agent",
    "AgentIn",
    "AgentOut",
    "AgentTokenIn",
    "AuditEvent",
    "CallerPinWrong",
    "CallerVerification",
    "Customer",
    "CustomerIn",
    "CustomerOut",
    "EnrollmentConfirmIn",
    "EnrollmentIn",
    "MeOut",
    "PasswordChangeIn",
    "PinChangeIn",
    "SmsOut",
    "Throttle",
    "TokenIn",
    "TokenOut",
    "VerificationRequired",
    "VerifyIn",
    "VerifyOut",
    "agent_token",
    "build_throttle",
    "caller_account_on",
    "change_own_password",
    "change_own_pin",
    "check_verification",
    "claim_verification",
    "confirm_code",
    "create_agent",
    "create_customer",
    "customer_token",
    "decode_token",
    "find_customer_by_phone",
    "get_agent",
    "get_customer",
    "get_verification",
    "login_agent",
    "login_customer",
    "phone_or_422",
    "send_code",
    "token_version_ok",
    "token_version_ok_on",
    "verify_by_keypad",
    "verify_caller",
]
