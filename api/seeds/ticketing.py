"""Demo seed for the ticketing room (idempotent): the China office calendar with holidays,
queues per skill group, SLA policies for every category and priority, a few tickets."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

import auth
import commerce
import ticketing
from core.principal import Principal
from core.runtime import Runtime
from ticketing import CATEGORIES, DEFAULT_FOLLOWUP_SECONDS, DEFAULT_HOURS, DEFAULT_TARGETS, Ticket

HOLIDAYS = [
    *(date(2026, 10, 1) + timedelta(days=i) for i in range(7)),  # 国庆节
    date(2027, 1, 1),  # 元旦
    *(date(2027, 2, 6) + timedelta(days=i) for i in range(8)),  # 春节
]
QUEUES = [
    ("billing", "账务与支付 Billing & payment", ["billing", "payment"]),
    ("delivery", "配送与出票 Delivery", ["delivery", "product"]),
    ("general", "综合投诉 General", ["service", "other"]),
]
TICKET_AGENTS = ("agent", "supervisor")  # demo agents seeded by api/seeds/auth.py
AGENT_CAP = 10
DEMO_TICKETS = [
    ("billing", "high", "重复扣费 Charged twice", "同一订单被扣了两次话费，请退回一笔。"),
    ("delivery", "normal", "电子票未收到 E-ticket missing", "付款成功但一直没有收到电子票短信。"),
    ("service", "urgent", "客服挂断 Call dropped", "等了二十分钟，接通后被挂断。"),
]


async def seed_demo(runtime: Runtime) -> list[str]:
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        await ticketing.upsert_calendar(
            session,
            name="china-office",
            zone="Asia/Shanghai",
            hours=DEFAULT_HOURS,
            holidays=HOLIDAYS,
            now=now,
        )
        agents = dict(
            (
                await session.execute(
                    select(auth.Agent.username, auth.Agent.id).where(
                        auth.Agent.username.in_((*TICKET_AGENTS, "supervisor"))
                    )
                )
            ).all()
        )
        for code, name, cats in QUEUES:
            await ticketing.upsert_queue(
                session,
                code=code,
                name=name,
                calendar_name="china-office",
                categories=cats,
                supervisor_id=agents.get("supervisor"),
                now=now,
            )
        for category in CATEGORIES:
            for priority, (fr, nr, res) in DEFAULT_TARGETS.items():
                await ticketing.set_policy(
                    session,
                    category=category,
                    priority=priority,
                    first_response_s=fr,
                    next_response_s=nr,
                    resolution_s=res,
                    followup_s=DEFAULT_FOLLOWUP_SECONDS,
                    now=now,
                )
        seeded = (
            await session.execute(select(Ticket.id).where(Ticket.created_by == "agent:seed"))
        ).first()
        # Members of every queue, available: a new ticket is assigned automatically.
        for username in TICKET_AGENTS:
            if username in agents:
                await ticketing.set_agent(
                    session,
                    agents[username],
                    available=True,
                    cap=AGENT_CAP,
                    queues=[code for code, _name, _cats in QUEUES],
                )
                await ticketing.drain_for_agent(session, agents[username], now=now)
        lines = [
            "ticketing: calendar china-office, queues billing/delivery/general, SLA policies,",
            f"  agents {', '.join(TICKET_AGENTS)} take new tickets (cap {AGENT_CAP} each)",
        ]
        if seeded is None:
            orders = list((await session.execute(select(commerce.Order).limit(3))).scalars())
            # Tickets belong to real customers (open_ticket checks): the demo callers seeded
            # by auth stand in where the catalog has no orders yet.
            customers = list(
                (
                    await session.execute(
                        select(auth.Customer.id).order_by(auth.Customer.created_at).limit(3)
                    )
                ).scalars()
            )
            seed_agent = Principal("agent", "seed", frozenset({"agent"}))
            for i, (cat, prio, subject, text) in enumerate(DEMO_TICKETS):
                order = orders[i] if i < len(orders) else None
                if order is None and not customers:
                    break
                customer_id = order.customer_id if order else customers[i % len(customers)]
                t = await ticketing.open_ticket(
                    session,
                    seed_agent,
                    now=now,
                    category=cat,
                    subject=subject,
                    description=text,
                    priority=prio,
                    channel="phone",
                    customer_id=customer_id,
                    order_ids=[order.id] if order else [],
                )
                lines.append(f"ticket {t.number}: {subject}")
    return lines
