"""HTTP surface of the auth room (controllers only; rules live in auth/)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

import auth
from api.deps import RuntimeDep, ServicesDep, SessionDep
from api.security import PrincipalDep, agents_only, customers_and_agents, require_roles
from auth import (
    Agent,
    AgentIn,
    AgentOut,
    AgentTokenIn,
    Customer,
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
from core.errors import Forbidden, NotFound
from core.sms import SmsOutbox

CHANGE_PROBLEMS = {
    422: "current-secret-wrong (field current_pin / current_password; counted like a login), "
    "or validation-error",
    429: "throttled or locked, with Retry-After",
}
CREDENTIAL_PROBLEMS = {
    401: "invalid-credentials (same answer for unknown phone and wrong PIN)",
    422: "validation-error",
    429: "throttled or locked, with Retry-After",
}


VERIFY_PROBLEMS = {
    422: "caller-pin-wrong (same answer for unknown phone and wrong PIN), or validation-error",
    429: "throttled or locked, with Retry-After",
}


def _address(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(c.id, c.phone, c.name, c.locale, c.created_at, c.pin_hash is not None)


def agent_out(a: Agent) -> AgentOut:
    return AgentOut(a.id, a.username, a.display_name, list(a.roles), a.active)


@post(
    "/v1/auth/token",
    tags=["auth"],
    summary="Customer token by phone and PIN",
    status_code=200,
    opt={"problems": CREDENTIAL_PROBLEMS},
)
async def token(
    request: Request[Any, Any, Any],
    data: JSONBody[TokenIn],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
) -> TokenOut:
    customer, tok, expires = await auth.login_customer(
        runtime, session, data.phone, data.pin, gate=services.throttle, address=_address(request)
    )
    return TokenOut(access_token=tok, expires_in=expires, customer_id=customer.id)


@post(
    "/v1/auth/agent-token",
    tags=["auth"],
    summary="Agent token by username and password",
    status_code=200,
    opt={"problems": CREDENTIAL_PROBLEMS},
)
async def agent_token(
    request: Request[Any, Any, Any],
    data: JSONBody[AgentTokenIn],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
) -> TokenOut:
    agent, tok, expires = await auth.login_agent(
        runtime,
        session,
        data.username,
        data.password,
        gate=services.throttle,
        address=_address(request),
    )
    return TokenOut(
        access_token=tok, expires_in=expires, agent_id=agent.id, roles=list(agent.roles)
    )


@post(
    "/v1/auth/enrollment",
    tags=["auth"],
    summary="Send a one-time code by SMS",
    status_code=202,
    opt={"problems": {422: "validation-error", 429: "throttled"}},
)
async def enrollment(
    request: Request[Any, Any, Any],
    data: JSONBody[EnrollmentIn],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
) -> dict[str, str]:
    await auth.send_code(
        runtime,
        session,
        data.phone,
        gate=services.throttle,
        sms=services.sms,
        address=_address(request),
    )
    return {"status": "sent"}


@post(
    "/v1/auth/enrollment/confirm",
    tags=["auth"],
    summary="Set (or reset) the PIN with the SMS code; lifts a lock",
    status_code=200,
    opt={"problems": CREDENTIAL_PROBLEMS},
)
async def enrollment_confirm(
    request: Request[Any, Any, Any],
    data: JSONBody[EnrollmentConfirmIn],
    runtime: RuntimeDep,
    services: ServicesDep,
) -> TokenOut:
    customer = await auth.confirm_code(
        runtime, data.phone, data.code, data.pin, gate=services.throttle, address=_address(request)
    )
    tok, expires = auth.customer_token(runtime, customer)
    return TokenOut(access_token=tok, expires_in=expires, customer_id=customer.id)


@get(
    "/v1/me",
    tags=["auth"],
    summary="Who am I (a trivial authenticated GET)",
    guards=[customers_and_agents],
)
async def me(principal: PrincipalDep) -> MeOut:
    return MeOut(principal.kind, principal.id, sorted(principal.roles))


@post(
    "/v1/customers",
    tags=["auth"],
    summary="Create a customer (agents)",
    guards=[agents_only],
    status_code=201,
    opt={"problems": {409: "a customer with this phone exists", 422: "validation-error"}},
)
async def create_customer(
    data: JSONBody[CustomerIn], runtime: RuntimeDep, session: SessionDep, principal: PrincipalDep
) -> CustomerOut:
    c = await auth.create_customer(
        runtime, session, phone=data.phone, name=data.name, locale=data.locale
    )
    return customer_out(c)


@get(
    "/v1/customers/{customer_id:str}",
    tags=["auth"],
    summary="A customer's profile",
    guards=[customers_and_agents],
    opt={"problems": {404: "no such customer, or not you"}},
)
async def read_customer(
    customer_id: FromPath[str], session: SessionDep, principal: PrincipalDep
) -> CustomerOut:
    if principal.is_customer and principal.id != customer_id:
        raise NotFound("no such customer")
    return customer_out(await auth.get_customer(session, customer_id))


@get(
    "/v1/customers",
    tags=["auth"],
    summary="Look a caller up by phone (agents)",
    guards=[agents_only],
    opt={"problems": {404: "no customer with this phone"}},
)
async def find_customer(
    runtime: RuntimeDep,
    session: SessionDep,
    principal: PrincipalDep,
    phone: Annotated[str, QueryParameter(max_length=40)],
) -> CustomerOut:
    found = await auth.find_customer_by_phone(session, auth.phone_or_422(runtime, phone))
    if found is None:
        raise NotFound("no customer with this phone")
    return customer_out(found)


@post(
    "/v1/callers/verify",
    tags=["auth"],
    summary="Verify a caller's PIN (agents)",
    guards=[agents_only],
    status_code=201,
    opt={"problems": VERIFY_PROBLEMS},
)
async def verify(
    request: Request[Any, Any, Any],
    data: JSONBody[VerifyIn],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> VerifyOut:
    v = await auth.verify_caller(
        runtime,
        session,
        principal.id,
        data.phone,
        data.pin,
        gate=services.throttle,
        address=_address(request),
    )
    return VerifyOut(v.id, v.customer_id, v.expires_at)


@post(
    "/v1/admin/agents",
    tags=["auth"],
    summary="Create an agent (admin)",
    guards=[require_roles("admin")],
    status_code=201,
    opt={"problems": {409: "username taken", 422: "validation-error"}},
)
async def create_agent(
    data: JSONBody[AgentIn], runtime: RuntimeDep, session: SessionDep, principal: PrincipalDep
) -> AgentOut:
    a = await auth.create_agent(
        runtime,
        session,
        username=data.username,
        password=data.password,
        display_name=data.display_name,
        roles=data.roles,
    )
    return agent_out(a)


@get(
    "/v1/admin/sms-outbox",
    tags=["auth"],
    summary="Messages in the built-in SMS sink (admin)",
    guards=[require_roles("admin")],
    opt={"problems": {404: "the sink is not the sender"}},
)
async def sms_outbox(
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
    to: Annotated[str | None, QueryParameter(max_length=40)] = None,
) -> list[SmsOut]:
    sender = services.sms
    if not isinstance(sender, SmsOutbox) or not sender.is_sink:
        raise NotFound("the built-in SMS sink is not the sender")
    number = auth.phone_or_422(runtime, to, "to") if to else None
    rows = await sender.outbox(session, number)
    return [
        SmsOut(
            m.id,
            m.to,
            m.body,
            m.purpose,
            m.created_at,
            m.status,
            m.provider_message_id,
            m.direction,
            m.from_phone,
            m.segments,
        )
        for m in rows
    ]


@post(
    "/v1/auth/pin",
    tags=["auth"],
    summary="Change my PIN (customers); revokes old tokens",
    guards=[customers_and_agents],
    status_code=200,
    opt={"problems": CHANGE_PROBLEMS},
)
async def change_pin(
    request: Request[Any, Any, Any],
    data: JSONBody[PinChangeIn],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> TokenOut:
    if not principal.is_customer:
        raise Forbidden("customers only")
    c = await auth.change_own_pin(
        runtime,
        session,
        principal.id,
        data.current_pin,
        data.new_pin,
        gate=services.throttle,
        address=_address(request),
    )
    tok, expires = auth.customer_token(runtime, c)
    return TokenOut(access_token=tok, expires_in=expires, customer_id=c.id)


@post(
    "/v1/auth/password",
    tags=["auth"],
    summary="Change my password (agents); revokes old tokens",
    guards=[agents_only],
    status_code=200,
    opt={"problems": CHANGE_PROBLEMS},
)
async def change_password(
    request: Request[Any, Any, Any],
    data: JSONBody[PasswordChangeIn],
    runtime: RuntimeDep,
    services: ServicesDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> TokenOut:
    a = await auth.change_own_password(
        runtime,
        session,
        principal.id,
        data.current_password,
        data.new_password,
        gate=services.throttle,
        address=_address(request),
    )
    tok, expires = auth.agent_token(runtime, a)
    return TokenOut(access_token=tok, expires_in=expires, agent_id=a.id, roles=list(a.roles))


ROUTES: list[Any] = [
    change_pin,
    change_password,
    token,
    agent_token,
    enrollment,
    enrollment_confirm,
    me,
    create_customer,
    read_customer,
    find_customer,
    verify,
    create_agent,
    sms_outbox,
]
