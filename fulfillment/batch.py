"""Set-wise jobs for a burst: many `order.paid` (or `fulfillment.dispatch`) messages handled by
one job, so 200 orders paid at once cost a few statements per batch instead of ~15 per order.

Why this exists: per order, the plain jobs (service.handle_order_paid, service.dispatch) run
~40 statements and two Dramatiq messages; at ~0.4 ms of worker CPU per statement that capped
a burst at ~50 dispatches/s on two cores (bench/fulfillment.py). The relay hands a claimed
batch of one topic to these jobs as one message (core.broker.Route.batch_actor), and a lone
`order.paid` job runs `handle_orders_paid` with a batch of one (fulfillment.actors.order_paid):
its shipment is then sent by that job, with no second Dramatiq message.

They keep the plain path's rules: every job is idempotent (already shipped, already claimed
or leased shipments are skipped), the dispatch messages leave through the outbox in the same
transaction as the shipments, and no partner is called inside a database transaction (claim,
commit, call, then record). Anything unusual (an order not found or no longer `paid`, no
partner for its delivery method, a duplicate, a partner that did not accept) goes through the
plain per-item code, so the edge cases have one implementation. tests/integration/fulfillment/
test_fulfillment_batch.py compares both paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from core import outbox
from core.db import insert_many, new_id, update_many
from fulfillment import metrics, service
from fulfillment.domain import Outcome, ShipmentStatus, classify
from fulfillment.errors import NoPartnerForDelivery
from fulfillment.models import Partner, PartnerPayable, Shipment, ShipmentEvent
from fulfillment.partners import DispatchResult
from fulfillment.service import FulfillmentContext
from payments import domain as payments_domain
from payments import ledger

log = structlog.get_logger("hotline.fulfillment")


async def handle_orders_paid(ctx: FulfillmentContext, order_ids: list[str]) -> int:
    """`service.handle_order_paid` for many orders: the plain `paid` ones in one transaction
    (their snapshots, paid -> fulfilling, shipments, events and dispatch messages set-wise),
    the rest one by one through the plain job. Returns how many shipments were created."""
    ids = list(dict.fromkeys(order_ids))
    snapshots = getattr(ctx.orders, "snapshots", None)
    mark_many = getattr(ctx.orders, "mark_many", None)
    created: set[str] = set()
    own: list[Own] = []
    if snapshots is not None and mark_many is not None and ids:
        try:
            created, own = await _create_set_wise(ctx, ids, snapshots, mark_many)
        except IntegrityError:  # a concurrent job shipped one of them: all go the plain way
            created, own = set(), []
    count = len(created)
    for order_id in ids:
        if order_id not in created:
            count += await service.handle_order_paid(ctx, order_id)
    if own:
        await _dispatch_own(ctx, own)
    return count


# A shipment this job created and dispatches itself: its dispatch message's outbox id, the
# shipment (already claimed: written with its lease) and its partner.
Own = tuple[str, Shipment, Partner]


async def _dispatch_own(ctx: FulfillmentContext, own: list[Own]) -> None:
    """Run the dispatch messages this job just committed (claimed, core.outbox.emit_claimed)
    here, after the commit, instead of waiting for the relay to send them through Redis to
    another job: that hop (relay tick, enqueue, a consumer's poll, a second claim of the
    outbox rows) was ~50-70 ms of a 200-order burst's ~350 ms (bench/fulfillment.py). The
    shipments were written already leased, as `_claim_many` would leave them, so no claim
    transaction either. The messages still leave through the outbox: committed first, marked
    sent in the transaction that records each group's answers, and if this process dies in
    between, the relay sends them once their claim runs out (the watchdog re-enqueues the
    shipments once their lease has). The calls and the recording are `_send_claimed`'s, as
    for dispatch_many."""
    try:
        for start in range(0, len(own), GROUP):
            group = own[start : start + GROUP]
            sent = [message_id for message_id, _, _ in group]
            await _send_claimed(ctx, [(s, p) for _, s, p in group], sent=sent)
    except Exception:  # a database blip: the relay takes what is not sent over, as messages
        log.warning("own dispatch failed; relay takes over", exc_info=True)
        await outbox.release(ctx.sessions, [m for m, _, _ in own], now=ctx.clock.now())


async def _create_set_wise(
    ctx: FulfillmentContext, ids: list[str], snapshots: Any, mark_many: Any
) -> tuple[set[str], list[Own]]:
    """The shipments of the plain `paid` orders among `ids`; returns those orders and, per
    shipment, its dispatch message (emitted claimed for this job), itself and its partner."""
    async with ctx.sessions() as session, session.begin():
        now = ctx.clock.now()
        shipped = set(
            await session.scalars(select(Shipment.order_id).where(Shipment.order_id.in_(ids)))
        )
        fresh = [s for s in await snapshots(session, [i for i in ids if i not in shipped])]
        partners: dict[str, Partner | None] = {}
        for method in {s.delivery_method for s in fresh}:
            try:
                partners[method] = await service.partner_for(session, method)
            except NoPartnerForDelivery:  # the plain job dead-letters these
                partners[method] = None
        ready = [s for s in fresh if s.status == "paid" and partners[s.delivery_method]]
        moved = await mark_many(session, [s.order_id for s in ready], now=now)
        ready = [s for s in ready if s.order_id in moved]
        if not ready:
            return set(), []
        # Claimed for this job's own dispatch (`_dispatch_own`), which sends GROUP at a time,
        # each round bounded by the client's timeout (below lease_seconds): the lease covers
        # every round, so no other worker takes one of them while an earlier round runs.
        rounds = -(-len(ready) // GROUP)
        lease_until = now + timedelta(seconds=ctx.policy.lease_seconds * rounds)
        shipments, events, sent_by = [], [], []
        for snapshot in ready:
            partner = partners[snapshot.delivery_method]
            assert partner is not None
            shipment_id = new_id()
            shipments.append(
                {"id": shipment_id, "order_id": snapshot.order_id, "partner_id": partner.id,
                 "status": ShipmentStatus.PENDING.value,
                 "language": snapshot.language if snapshot.language in ("zh", "en") else "zh",
                 "attempts": 1, "lease_until": lease_until, "dead_lettered": False,
                 "next_attempt_at": now + timedelta(seconds=ctx.policy.watchdog_seconds),
                 "created_at": now, "updated_at": now,
                 "request": snapshot.dispatch_body(shipment_id)}
            )  # fmt: skip
            events.append(
                {"id": new_id(), "shipment_id": shipment_id, "applied": True,
                 "status": ShipmentStatus.PENDING.value, "source": "hotline",
                 "occurred_at": now, "recorded_at": now}
            )  # fmt: skip
            sent_by.append(partner)
        await insert_many(session, Shipment, shipments)
        await insert_many(session, ShipmentEvent, events)
        payloads = [{"shipment_id": s["id"]} for s in shipments]
        message_ids = await outbox.emit_claimed(session, service.TOPIC_DISPATCH, payloads, now=now)
        own = [
            (message_id, Shipment(**row), partner)  # not added: the rows are written above
            for message_id, row, partner in zip(message_ids, shipments, sent_by, strict=True)
        ]
        return {s.order_id for s in ready}, own


# Shipments claimed and sent together. Each group's lease covers one round of partner calls
# (each bounded by the client's timeout, below the lease), however long the batch, and a
# partner sees at most this many connections from one job at once. 50 rather than 16: a
# claim and a record transaction per 16 shipments cost a burst of 200 ~30% of its rate
# (bench/fulfillment.py), and the relay hands over batches of up to 100 (two even groups).
GROUP = 50


async def dispatch_many(ctx: FulfillmentContext, shipment_ids: list[str]) -> dict[str, str]:
    """`service.dispatch` for many shipments, GROUP at a time: one claim (lease) for the group,
    the partner calls concurrently over the process's pooled client after that commit, and
    the answers recorded in one transaction. Returns shipment id -> outcome (those not
    claimed: delivered already, dead-lettered or leased by another worker, are "skipped")."""
    ids = list(dict.fromkeys(shipment_ids))
    outcomes: dict[str, str] = {}
    for start in range(0, len(ids), GROUP):
        group = ids[start : start + GROUP]
        outcomes.update(dict.fromkeys(group, "skipped"))
        outcomes.update(await _send_claimed(ctx, await _claim_many(ctx, group)))
    return outcomes


async def _send_claimed(
    ctx: FulfillmentContext, claimed: list[tuple[Shipment, Partner]], *, sent: Sequence[str] = ()
) -> dict[str, str]:
    """Dispatch claimed shipments: e-tickets by SMS one by one as the plain job does, the
    partner calls concurrently after the claim's commit, their answers recorded in one
    transaction, which also marks the outbox messages in `sent` (`_dispatch_own`'s) sent."""
    outcomes: dict[str, str] = {}
    calls: list[tuple[Shipment, Partner]] = []
    for shipment, partner in claimed:
        if partner.kind == "eticket":  # an SMS queued in its own transaction, as in the plain job
            outcomes[shipment.id] = await service.send_eticket(ctx, shipment, partner)
        else:
            calls.append((shipment, partner))
    if not calls and not sent:
        return outcomes
    results = await asyncio.gather(
        *(
            ctx.client.dispatch(
                p.endpoint_url, p.secret, s.id, s.request, int(ctx.clock.now().timestamp())
            )
            for s, p in calls
        )
    )
    async with ctx.sessions() as session, session.begin():
        accepted = [
            (s, p, r) for (s, p), r in zip(calls, results, strict=True)
            if classify(r.status_code) is Outcome.ACCEPTED
        ]  # fmt: skip
        outcomes.update(await _record_accepted(ctx, session, accepted))
        done = {s.id for s, _, _ in accepted}
        for (shipment, partner), result in zip(calls, results, strict=True):
            if shipment.id not in done:  # retry, failure, dead letter: the plain rules
                outcomes[shipment.id] = await service.record(
                    ctx, session, shipment.id, partner, result
                )
        await outbox.record_sent(session, list(sent), now=ctx.clock.now())
    return outcomes


async def _claim_many(ctx: FulfillmentContext, ids: list[str]) -> list[tuple[Shipment, Partner]]:
    now = ctx.clock.now()
    async with ctx.sessions() as session, session.begin():
        rows = list(
            await session.execute(
                update(Shipment)
                .where(
                    Shipment.id.in_(ids),
                    Shipment.status == ShipmentStatus.PENDING.value,
                    Shipment.dead_lettered.is_(False),
                    or_(Shipment.lease_until.is_(None), Shipment.lease_until < now),
                )
                .values(
                    lease_until=now + timedelta(seconds=ctx.policy.lease_seconds),
                    attempts=Shipment.attempts + 1,
                    updated_at=now,
                )
                .returning(Shipment)
                .execution_options(synchronize_session=False)
            )
        )
        shipments = [row[0] for row in rows]
        if not shipments:
            return []
        wanted = {s.partner_id for s in shipments}
        partners = {
            p.id: p for p in await session.scalars(select(Partner).where(Partner.id.in_(wanted)))
        }
        order = {shipment_id: n for n, shipment_id in enumerate(ids)}
        shipments.sort(key=lambda s: order[s.id])
        return [(s, partners[s.partner_id]) for s in shipments]


async def _record_accepted(
    ctx: FulfillmentContext,
    session: Any,
    accepted: list[tuple[Shipment, Partner, DispatchResult]],
) -> dict[str, str]:
    """service.record's ACCEPTED branch for many http shipments, set-wise: the shipments
    locked, then updated, their events, payables and ledger transactions inserted, one
    statement each (executemany). Column values rather than ORM objects: building, tracking
    and flushing ~300 objects per 50 shipments was most of this transaction's Python time
    (bench/fulfillment.py); test_fulfillment_batch.py checks the rows against the plain job's."""
    if not accepted:
        return {}
    now: datetime = ctx.clock.now()
    ids = [s.id for s, _, _ in accepted]
    locked = {
        row.id: row
        for row in await session.execute(
            select(
                Shipment.id, Shipment.status, Shipment.tracking_number, Shipment.dispatched_at,
                Shipment.created_at,
            )
            .where(Shipment.id.in_(ids))
            .order_by(Shipment.id)
            .with_for_update()
        )
    }  # fmt: skip
    booked = set(
        await session.scalars(
            select(PartnerPayable.shipment_id).where(PartnerPayable.shipment_id.in_(ids))
        )
    )
    updates: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    payables: list[dict[str, Any]] = []
    bookings: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for claimed, partner, result in accepted:
        row = locked.get(claimed.id)
        if row is None:
            continue
        metrics.DISPATCH_ATTEMPTS.labels(partner.code, Outcome.ACCEPTED.value).inc()
        status, dispatched_at = row.status, row.dispatched_at
        if status == ShipmentStatus.PENDING.value:
            status, dispatched_at = ShipmentStatus.DISPATCHED.value, now
            events.append(
                {"id": new_id(), "shipment_id": row.id, "status": status, "source": "hotline",
                 "applied": True, "occurred_at": now, "recorded_at": now}
            )  # fmt: skip
            metrics.DISPATCH_LATENCY.observe(max(0.0, (now - row.created_at).total_seconds()))
        updates.append(
            {"id": row.id, "status": status, "dispatched_at": dispatched_at,
             "tracking_number": result.tracking_number or row.tracking_number}
        )  # fmt: skip
        if partner.cost_minor > 0 and row.id not in booked:
            booked.add(row.id)
            payables.append(
                {"id": new_id(), "shipment_id": row.id, "partner_id": partner.id,
                 "amount_minor": partner.cost_minor, "currency": partner.currency,
                 "created_at": now}
            )  # fmt: skip
            bookings.append(
                ledger.transaction_rows(
                    "partner_delivery_cost",
                    [
                        payments_domain.Posting(service.DELIVERY_COST, partner.cost_minor),
                        payments_domain.Posting(service.PARTNER_PAYABLE, -partner.cost_minor),
                    ],
                    currency=partner.currency,
                    now=now,
                    memo=f"delivery by {partner.code}, shipment {row.id}",
                    order_id=claimed.order_id,
                )
            )
    await update_many(
        session,
        Shipment,
        updates,
        values={
            "lease_until": None,
            "updated_at": now,
            "next_attempt_at": None,
            "last_error": None,
        },
    )
    if events:
        await insert_many(session, ShipmentEvent, events)
    if payables:
        await insert_many(session, PartnerPayable, payables)
    await ledger.post_rows(session, bookings)
    return dict.fromkeys(locked, "dispatched")
