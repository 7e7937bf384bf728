"""`hotline worker` restarts a crashing child with exponential backoff, not twice a second
forever (e.g. the database unreachable at start)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from api.worker_supervisor import Supervisor

CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]


class _Fake:
    """A clock that only moves when the supervisor sleeps, plus what it logged."""

    def __init__(self, restarts: int) -> None:
        self.now = 1000.0
        self.lines: list[str] = []
        self.restarts = restarts
        self.supervisor: Supervisor | None = None

    def spawn(self, before: float = 0.0) -> subprocess.Popen[bytes]:
        self.now += before  # how long this child "runs" before it crashes
        proc = subprocess.Popen(CRASH)
        proc.wait()  # exited at once, whatever the machine's speed
        return proc

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if len(self.lines) >= self.restarts and self.supervisor is not None:
            self.supervisor.stopping = True

    def delays(self) -> list[float]:
        return [float(line.rsplit(" ", 1)[1].rstrip("s")) for line in self.lines]


def _supervise(fake: _Fake, spawn: Callable[[], subprocess.Popen[bytes]] | None = None) -> None:
    fake.supervisor = Supervisor(
        spawn or fake.spawn,
        1,
        echo=fake.lines.append,
        sleep=fake.sleep,
        clock=lambda: fake.now,
    )
    fake.supervisor.run()


def test_a_child_that_exits_at_once_is_restarted_ever_later_up_to_30s() -> None:
    fake = _Fake(restarts=9)
    _supervise(fake)
    assert fake.delays() == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert all("exited (3)" in line for line in fake.lines), fake.lines


def test_a_child_that_ran_a_minute_starts_the_backoff_again() -> None:
    fake = _Fake(restarts=6)
    spawns = iter([0.0, 0.0, 0.0, 0.0, 61.0, 0.0, 0.0])
    _supervise(fake, lambda: fake.spawn(next(spawns)))
    assert fake.delays() == [0.5, 1, 2, 4, 0.5, 1]


def test_stop_terminates_the_children_and_returns() -> None:
    children: list[subprocess.Popen[bytes]] = []

    def spawn() -> subprocess.Popen[bytes]:
        children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        return children[-1]

    lines: list[str] = []
    supervisor = Supervisor(spawn, 2, echo=lines.append, sleep=lambda _s: supervisor.stop())
    supervisor.run()
    assert len(children) == 2 and all(c.returncode == -15 for c in children)
    assert lines == [], "a stopped child is not restarted"
