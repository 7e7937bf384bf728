"""`hotline worker`'s parent: keeps N worker processes running, restarting a crashed one with
exponential backoff. A child that dies at once (database unreachable at start, a bad
deployment) is otherwise restarted twice a second forever, flooding the log and the database
with connection attempts; a child that had run for a while restarts quickly again."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

FIRST_DELAY = 0.5  # seconds before the first restart of a crashed child
MAX_DELAY = 30.0  # the delay doubles per crash up to this
STEADY_AFTER = 60.0  # a child up this long crashed for a new reason: start from FIRST_DELAY
TICK = 0.5  # how often the children are polled


@dataclass
class _Slot:
    proc: subprocess.Popen[bytes] | None
    started_at: float
    next_delay: float = FIRST_DELAY
    restart_at: float = 0.0


class Supervisor:
    def __init__(
        self,
        spawn: Callable[[], subprocess.Popen[bytes]],
        processes: int,
        *,
        echo: Callable[[str], None],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spawn, self.processes, self.echo = spawn, processes, echo
        self.sleep, self.clock = sleep, clock
        self.stopping = False
        self.slots: list[_Slot] = []
        self._signalled: set[int] = set()

    def stop(self, *_: object) -> None:
        """Signal handler: SIGTERM every live child; `run` then waits for them and returns."""
        self.stopping = True
        self._terminate()

    def _terminate(self) -> None:
        for slot in self.slots:
            if slot.proc is not None and slot.proc.pid not in self._signalled:
                self._signalled.add(slot.proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    slot.proc.send_signal(signal.SIGTERM)

    def run(self) -> None:
        self.slots = [_Slot(self.spawn(), self.clock()) for _ in range(self.processes)]
        while not self.stopping:
            for slot in self.slots:
                self._check(slot)
            self.sleep(TICK)
        self._terminate()  # a child spawned while the signal was handled was not told yet
        for slot in self.slots:
            if slot.proc is not None:
                slot.proc.wait()

    def _check(self, slot: _Slot) -> None:
        now = self.clock()
        if slot.proc is None:
            if now >= slot.restart_at and not self.stopping:
                slot.proc, slot.started_at = self.spawn(), now
            return
        code = slot.proc.poll()
        if code is None:
            return
        if now - slot.started_at >= STEADY_AFTER:
            slot.next_delay = FIRST_DELAY
        delay = slot.next_delay
        slot.next_delay = min(delay * 2, MAX_DELAY)
        self.echo(f"worker process {slot.proc.pid} exited ({code}); restarting in {delay:g}s")
        slot.proc, slot.restart_at = None, now + delay
