"""How an SLA clock is shown: one state for colour and word, the same on the server (first
paint, without JavaScript) and in console.js (the live countdown): amber once 75 % of the
budget is spent, red at breach."""

from __future__ import annotations

from typing import Any

AT_RISK = 0.75


def clock_state(clock: dict[str, Any]) -> str:
    """`ok`, `warn` (at risk) or `bad` (breached) for one clock of ticketing.ticket_view."""
    if clock.get("breached_at"):
        return "bad"
    target = clock.get("target_business_seconds") or 0
    remaining = clock.get("remaining_business_seconds") or 0
    if target and remaining <= 0:
        return "bad"
    if target and remaining <= target * (1 - AT_RISK):
        return "warn"
    return "ok"


def live_clock(view: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The clock an agent races now: the first running one (first response, then
    resolution), else the first that is breached."""
    sla: dict[str, dict[str, Any]] = view.get("sla") or {}
    for name in ("first_response", "next_response", "resolution"):
        clock = sla.get(name)
        if clock and clock.get("running"):
            return name, clock
    for name, clock in sla.items():
        if clock.get("breached_at"):
            return name, clock
    return None
