"""The one typed composition of a process: every port the rooms need, built once from a Runtime.

Routes get it as the `services` dependency (api.app keeps it in app.state), actors through the
worker process's `WorkerLocal` (api.outbox_routes.configure), periodic jobs from the runner
that holds it, the CLI from `api.cli.run_with_services`. All of them call `build_services`, so
a port is chosen in one place; nothing is looked up by name and nothing lives in module state
that a second process would not share.

Room functions still take typed arguments (a Throttle, PaymentDeps, FulfillmentContext, ...),
never the whole composition. Tests swap a port with the keyword overrides of `build_services`
(or `dataclasses.replace` on a built one when nothing else holds that port).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import payments
from api.voice_state import CallStates
from auth import Throttle, build_throttle
from commerce import OrderPlacement, placement
from core.outbox import Sender
from core.runtime import Runtime
from core.settings import Settings
from core.sms import SmsOutbox, SmsProvider, build_sms_sender
from fulfillment import CommerceOrders as FulfillmentOrders
from fulfillment import (
    FulfillmentContext,
    HttpPartnerClient,
    OrderGateway,
    PartnerClient,
    RetryPolicy,
)
from payments import CommerceOrders as PaymentOrders
from payments import OrderPort
from ticketing import TicketOpening


@dataclass(frozen=True)
class Services:
    runtime: Runtime  # settings, sessions, clock, Redis, drivers
    throttle: Throttle  # credential throttle (its memory fallback is this process's)
    sms: SmsOutbox  # queue a text in the caller's transaction; `sms.send` delivers it
    gateway: payments.Gateway | None  # card payments; None: cards are off
    payments: payments.PaymentDeps
    fulfillment: FulfillmentContext
    placement: OrderPlacement  # POST /v1/orders' unit of work (PostgreSQL or SQLite)
    call_states: CallStates  # where each IVR call is in the menu (Redis, or this process)
    # Where the outbox relay sends due messages: Dramatiq in `hotline worker`, the in-process
    # handlers on embedded defaults, None where no relay runs (tests drive jobs themselves).
    outbox_sender: Sender | None = None
    # A customer's ticket in one statement (PostgreSQL; None: always the plain way).
    ticket_opening: TicketOpening | None = None

    @property
    def sms_provider(self) -> SmsProvider:
        return self.sms.provider

    @property
    def dispatch_policy(self) -> RetryPolicy:
        return self.fulfillment.policy


def dispatch_policy(s: Settings) -> RetryPolicy:
    """HOTLINE_DISPATCH_* (validated with the rest of Settings)."""
    return RetryPolicy(
        max_attempts=s.dispatch_max_attempts,
        max_redeliveries=s.dispatch_max_redeliveries,
        base_seconds=s.dispatch_base_seconds,
        cap_seconds=s.dispatch_cap_seconds,
        timeout_seconds=s.dispatch_timeout_seconds,
        lease_seconds=s.dispatch_lease_seconds,
        watchdog_seconds=s.dispatch_watchdog_seconds,
        redeliver_seconds=s.dispatch_redeliver_seconds,
    )


def card_gateway(s: Settings) -> payments.Gateway | None:
    """Stripe when a key is set; in demo mode without one, the demo gateway (test cards only,
    no money moves) so `make run` can pay by card; otherwise cards are off."""
    if s.stripe_api_key:
        return payments.StripeGateway(s.stripe_api_key, api_base=s.stripe_api_base)
    if s.env == "demo":
        return payments.DemoCardGateway(s.env)
    return None


_DEFAULT = object()  # "build it from settings" (None is a meaningful gateway: cards off)


def build_services(
    runtime: Runtime,
    *,
    sms: SmsOutbox | None = None,
    gateway: payments.Gateway | object | None = _DEFAULT,
    payment_orders: OrderPort | None = None,
    fulfillment_orders: OrderGateway | None = None,
    partner_client: PartnerClient | None = None,
    policy: RetryPolicy | None = None,
    outbox_sender: Sender | None = None,
) -> Services:
    """The process's ports from its Runtime; each keyword replaces one (tests' fakes)."""
    s = runtime.settings
    sms = sms or build_sms_sender(s, runtime.clock)
    chosen = card_gateway(s) if gateway is _DEFAULT else cast("payments.Gateway | None", gateway)
    policy = policy or dispatch_policy(s)
    return Services(
        runtime=runtime,
        throttle=build_throttle(runtime),
        sms=sms,
        gateway=chosen,
        payments=payments.PaymentDeps(
            orders=payment_orders or PaymentOrders(),
            gateway=chosen,
            public_base_url=s.public_base_url,
            notifier=sms,
        ),
        fulfillment=FulfillmentContext(
            sessions=runtime.sessions,
            clock=runtime.clock,
            orders=fulfillment_orders or FulfillmentOrders(),
            client=partner_client or HttpPartnerClient(timeout_seconds=policy.timeout_seconds),
            sms=sms,
            policy=policy,
        ),
        placement=placement(runtime),
        call_states=CallStates.build(runtime),
        outbox_sender=outbox_sender,
        ticket_opening=TicketOpening(runtime.drivers) if runtime.drivers is not None else None,
    )
