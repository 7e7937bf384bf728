"""What the machine spends while bench/day.py runs: the CPU of each part of the deployment,
read from /proc every half second, so a failing step can name the part that ran out first.

Limits: one API or worker process is one Python interpreter, so it saturates at one core
(its event loop; a worker's threads share the GIL); redis-server is single-threaded (one
core); PostgreSQL's backends of the bench database together have the machine's cores. The
load generator (this process: the client, localstripe and the partner stand-in) is one core
too: when it is the fullest, the figures are its limit, not the deployment's.
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from tests.stack import cpu_seconds

TICK = 0.5
BENCH_APP = "hotline-bench-day"  # application_name of the bench's own connections


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (every core, every process)."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]  # idle + iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(parts) - idle) / hz, sum(parts) / hz


@dataclass
class Usage:
    """CPU of one part over a window, as a share of the most that part can use."""

    name: str
    seconds: float
    share: float  # 1.0 = saturated
    detail: str


class Watch(threading.Thread):
    def __init__(
        self,
        groups: dict[str, Callable[[], list[int]]],
        pg_admin: str,
        db_name: str,
    ) -> None:
        super().__init__(daemon=True)
        self.groups, self.pg_admin, self.db_name = groups, pg_admin, db_name
        self.last: dict[int, float] = {}
        self.by_pid: dict[tuple[str, int], float] = defaultdict(float)
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def backends(self, conn: psycopg.Connection) -> list[int]:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name <> %s",
            (self.db_name, BENCH_APP),
        ).fetchall()
        return [int(r[0]) for r in rows]

    def run(self) -> None:
        with psycopg.connect(self.pg_admin, autocommit=True) as conn:
            while not self.stopped.is_set():
                pids = {name: list(get()) for name, get in self.groups.items()}
                pids["postgres"] = self.backends(conn)
                with self.lock:
                    for name, group in pids.items():
                        for pid in group:
                            now = cpu_seconds(pid)
                            # A process first seen counts from now: its past is not this run's.
                            self.by_pid[(name, pid)] += now - self.last.get(pid, now)
                            self.last[pid] = now
                self.stopped.wait(TICK)

    def snapshot(self) -> tuple[float, dict[tuple[str, int], float], tuple[float, float]]:
        with self.lock:
            return time.monotonic(), dict(self.by_pid), machine_busy_seconds()


def usage(
    before: tuple[float, dict[tuple[str, int], float], tuple[float, float]],
    after: tuple[float, dict[tuple[str, int], float], tuple[float, float]],
) -> list[Usage]:
    """Each part's CPU between two snapshots, fullest first."""
    wall = max(after[0] - before[0], 1e-9)
    cores = os.cpu_count() or 1
    spent: dict[str, list[float]] = defaultdict(list)
    for key, total in after[1].items():
        spent[key[0]].append(total - before[1].get(key, 0.0))
    out = []
    for name, per in spent.items():
        if name == "postgres":  # backends of our database, any number at once
            share = sum(per) / wall / cores
            detail = f"{len(per)} backends, {sum(per) / wall:.2f} cores of {cores}"
        else:  # one interpreter or one thread each: the busiest process is the limit
            share = max(per) / wall
            detail = ", ".join(f"{s / wall:.2f}" for s in per) + " cores"
        out.append(Usage(name, sum(per), share, detail))
    busy = (after[2][0] - before[2][0]) / max(after[2][1] - before[2][1], 1e-9)
    out.append(Usage("machine (everyone)", 0.0, busy, f"{busy * cores:.2f} cores of {cores}"))
    return sorted(out, key=lambda u: -u.share)
