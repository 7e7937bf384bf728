"""Ticket reports: volume by category and channel, SLA attainment per clock, queue and agent,
first-response and resolution times (wall and business), reopen rate, satisfaction."""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.text import SpreadsheetWriter

from .calendar import business_seconds
from .domain import CLOCKS, ClockEvent
from .models import ClockSegment, Ticket, TicketQueue
from .timeline import states, ticket_calendar


def _avg(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


async def ticket_report(
    session: AsyncSession, *, start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    tickets = list(
        (
            await session.execute(
                select(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end)
            )
        ).scalars()
    )
    queues = {q.id: q.code for q in (await session.execute(select(TicketQueue))).scalars()}
    events: dict[str, list[ClockEvent]] = defaultdict(list)
    ids = [t.id for t in tickets]
    for chunk in range(0, len(ids), 500):
        rows = await session.execute(
            select(ClockSegment)
            .where(ClockSegment.ticket_id.in_(ids[chunk : chunk + 500]))
            .order_by(ClockSegment.ticket_id, ClockSegment.at, ClockSegment.seq)
        )
        for r in rows.scalars():
            events[r.ticket_id].append(ClockEvent(r.clock, r.kind, r.at))
    by_category: dict[str, int] = defaultdict(int)
    by_channel: dict[str, int] = defaultdict(int)
    sla: dict[str, dict[str, dict[str, dict[str, int]]]] = {
        dim: defaultdict(lambda: defaultdict(lambda: {"met": 0, "breached": 0}))
        for dim in ("overall", "queue", "agent")
    }
    fr_wall: list[float] = []
    fr_biz: list[float] = []
    res_wall: list[float] = []
    res_biz: list[float] = []
    scores: dict[str, list[int]] = defaultdict(list)
    reopened = 0
    for t in tickets:
        by_category[t.category] += 1
        by_channel[t.channel] += 1
        reopened += 1 if t.reopen_count else 0
        cal = ticket_calendar(t)
        sts = states(t, sorted(events[t.id], key=lambda e: e.at), now)
        for clock in CLOCKS:
            st = sts[clock]
            if not st.started or (st.breached_at is None and not st.stopped):
                continue  # still running in time: not decided yet
            outcome = "breached" if st.breached_at is not None else "met"
            sla["overall"]["all"][clock][outcome] += 1
            sla["queue"][queues.get(t.queue_id, "?")][clock][outcome] += 1
            sla["agent"][t.assignee_id or "unassigned"][clock][outcome] += 1
        if t.first_responded_at:
            fr_wall.append((t.first_responded_at - t.created_at).total_seconds())
            fr_biz.append(business_seconds(cal, t.created_at, t.first_responded_at))
        if t.resolved_at:
            res_wall.append((t.resolved_at - t.created_at).total_seconds())
            res_biz.append(business_seconds(cal, t.created_at, t.resolved_at))
        if t.satisfaction is not None:
            scores[t.resolved_by or "unknown"].append(t.satisfaction)
    all_scores = [s for v in scores.values() for s in v]

    def attainment(table: dict[str, dict[str, dict[str, int]]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, clocks in table.items():
            out[key] = {
                c: {**v, "attainment": round(v["met"] / (v["met"] + v["breached"]), 4)}
                for c, v in clocks.items()
            }
        return out

    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "tickets": len(tickets),
        "volume": {"by_category": dict(by_category), "by_channel": dict(by_channel)},
        "sla": {
            "overall": attainment(sla["overall"]).get("all", {}),
            "by_queue": attainment(sla["queue"]),
            "by_agent": attainment(sla["agent"]),
        },
        "first_response_seconds": {"wall_avg": _avg(fr_wall), "business_avg": _avg(fr_biz)},
        "resolution_seconds": {"wall_avg": _avg(res_wall), "business_avg": _avg(res_biz)},
        "reopen_rate": round(reopened / len(tickets), 4) if tickets else None,
        "satisfaction": {
            "count": len(all_scores),
            "avg": _avg([float(s) for s in all_scores]),
            "by_agent": {
                a: {"count": len(v), "avg": _avg([float(s) for s in v])} for a, v in scores.items()
            },
        },
    }


def report_csv(report: dict[str, Any]) -> str:
    """Flat rows: section, key, metric, value."""
    buf = io.StringIO()
    w = SpreadsheetWriter(buf)  # queue codes and agent ids must never run as formulas
    w.writerow(["section", "key", "metric", "value"])
    w.writerow(["total", "tickets", "count", report["tickets"]])
    for dim, counts in report["volume"].items():
        for k, n in sorted(counts.items()):
            w.writerow(["volume", dim, k, n])
    for clock, v in report["sla"]["overall"].items():
        w.writerow(["sla", "overall", clock, v["attainment"]])
    for dim in ("by_queue", "by_agent"):
        for key, clocks in sorted(report["sla"][dim].items()):
            for clock, v in clocks.items():
                w.writerow([f"sla_{dim}", key, clock, v["attainment"]])
    for name in ("first_response_seconds", "resolution_seconds"):
        for metric, v in report[name].items():
            w.writerow(["times", name, metric, "" if v is None else v])
    w.writerow(
        ["reopen", "all", "rate", "" if report["reopen_rate"] is None else report["reopen_rate"]]
    )
    sat = report["satisfaction"]
    w.writerow(["satisfaction", "all", "avg", "" if sat["avg"] is None else sat["avg"]])
    for agent, v in sorted(sat["by_agent"].items()):
        w.writerow(["satisfaction", agent, "avg", v["avg"]])
    return buf.getvalue()
