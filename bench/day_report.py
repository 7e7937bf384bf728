"""What bench/day.py prints: each step's routes and CPU, the cost per flow, and the verdict
(the highest rate held, and what ran out first at the first failing step)."""

from __future__ import annotations

import os
import statistics
from collections import defaultdict
from typing import Any

from bench.day_flows import Day, Sample
from bench.rush import pct

P99_LIMIT = 0.5  # seconds: a step holds when its p99 is under this and nothing failed


def report_step(
    i: int, rate: float, started: int, seconds: float, samples: list[Sample], fired: int,
    delays: list[float], parts: list[Any],
) -> tuple[bool, str]:  # fmt: skip
    lat = [s.seconds for s in samples]
    errors = [s for s in samples if not s.ok]
    p99 = pct(lat, 99) if lat else float("nan")
    held = bool(lat) and p99 < P99_LIMIT and not errors
    reasons = [f"p99 {p99 * 1000:.0f} ms"] if not p99 < P99_LIMIT else []
    reasons += [f"{len(errors)} errors"] if errors else []
    why = ", ".join(reasons) or "held"
    print(
        f"\nstep {i}: target {rate:g} flows/s, started {started / seconds:.1f}/s, "
        f"{len(samples) / seconds:.1f} requests/s, p50 {pct(lat, 50) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, errors {len(errors)}: {why.upper() if not held else why}"
    )
    print(f"  {'route':<30} {'req/s ok':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    routes: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        routes[s.route].append(s)
    for route in sorted(routes):
        got = routes[route]
        ok = [s.seconds for s in got if s.ok]
        bad: dict[int, int] = defaultdict(int)
        for s in got:
            if not s.ok:
                bad[s.status] += 1
        err = ",".join(f"{n}x{code or 'conn'}" for code, n in sorted(bad.items())) or "0"
        print(
            f"  {route:<30} {len(ok) / seconds:8.1f} {pct(ok, 50) * 1000:8.0f} "
            f"{pct(ok, 99) * 1000:8.0f} {err:>7}"
        )
    arrived = [d for d in delays if d != float("inf")]
    print(
        f"  escalations fired: {fired} ({fired / seconds:.1f}/s); paid-to-partner "
        f"({len(arrived)}/{len(delays)} courier orders received): "
        + (
            f"p50 {statistics.median(arrived) * 1000:.0f} ms, p99 {pct(arrived, 99) * 1000:.0f} ms"
            if arrived
            else "-"
        )
    )
    print("  CPU, share of what each part can use: " + "; ".join(
        f"{u.name} {u.share:.0%} ({u.detail})" for u in parts
    ))  # fmt: skip
    return held, why


def step_held(day: Day, i: int) -> bool:
    done = [s for s in day.samples if s.step == i]
    return bool(done) and all(s.ok for s in done) and pct([s.seconds for s in done], 99) < P99_LIMIT


def cost_per_flow(steps: list[dict[str, Any]], apis: int, workers: int) -> None:
    """CPU each part spent per flow over every step, and the rate that would fill each part
    if the machine were the deployment's alone: a figure the neighbours' load on a shared
    machine disturbs far less than latency does (an estimate, not a measurement)."""
    flows = sum(st["started"] for st in steps)
    if not flows:
        return
    spent: dict[str, float] = defaultdict(float)
    for st in steps:
        for u in st["cpu"]:
            spent[u.name] += u.seconds
    cores = os.cpu_count() or 1
    room = {"API": apis, "worker": workers, "postgres": cores, "redis-server": 1}
    ms = {name: spent[name] * 1000 / flows for name in room}
    print(
        "CPU per flow: "
        + ", ".join(f"{name} {v:.1f} ms" for name, v in ms.items())
        + f"; the client {spent['bench client'] * 1000 / flows:.1f} ms"
    )
    fills = {name: room[name] * 1000 / v for name, v in ms.items() if v > 0}
    fills[f"all {cores} cores"] = cores * 1000 / max(sum(ms.values()), 1e-9)
    first = min(fills, key=fills.__getitem__)
    print(
        "if the machine were ours alone, flows/s that would fill each: "
        + ", ".join(f"{name} {v:.0f}" for name, v in fills.items())
        + f" -> {first} first"
    )


def summary(highest: dict[str, Any] | None, first_fail: tuple[int, str, list[Any]] | None,
            delays: dict[int, list[float]], seconds: float) -> None:  # fmt: skip
    print()
    if highest is None:
        print("highest rate held (p99 < 500 ms, no error): none of the steps")
    else:
        print(
            f"highest rate held (p99 < 500 ms, no error): {highest['rate']:g} flows/s "
            f"({highest['requests']:.1f} requests/s over both APIs)"
        )
    every = [d for per in delays.values() for d in per if d != float("inf")]
    lost = sum(d == float("inf") for per in delays.values() for d in per)
    if every:
        print(
            f"paid-to-partner over the run: p50 {statistics.median(every) * 1000:.0f} ms, "
            f"p99 {pct(every, 99) * 1000:.0f} ms ({len(every)} courier orders; {lost} not received)"
        )
    if first_fail is None:
        print("no step failed: raise --steps to find the limit")
        return
    step, why, parts = first_fail
    # The machine's cores are a resource too: with every process on one 2-core box they
    # usually fill before any one process reaches its own core.
    top = parts[0]
    ours = [u for u in parts if u.name != "machine (everyone)"]
    spent = ", ".join(f"{u.name} {u.seconds / seconds:.2f}" for u in ours)
    print(
        f"first failing step: {step} ({why}); closest to saturation: {top.name} at "
        f"{top.share:.0%} ({top.detail})"
    )
    print(f"  cores used there: {spent} (the rest of the machine: other users)")
    if top.name != ours[0].name:
        print(
            f"  of the deployment's own limits the fullest: {ours[0].name} at {ours[0].share:.0%}"
        )
    if ours[0].name == "bench client":
        print("  the load generator itself was the fullest: the figure is its limit, not ours")
