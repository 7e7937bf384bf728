"""CPU seconds read from Linux /proc, split by part, for the benches' "CPU per request" lines:
on a shared machine a steadier figure than a rate, and it says which part a request costs."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_split(children: bytes, database: str) -> tuple[float, float, float]:
    """CPU seconds so far (0 where /proc has none) of this process's children whose command
    line holds `children`, of the PostgreSQL backends of `database` (none when it is empty)
    and of this process itself."""
    ours = theirs = 0.0
    title = f" {database} ".encode()
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
            cpu = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
        if int(fields[1]) == os.getpid() and children in cmdline:
            ours += cpu
        elif database and cmdline.startswith(b"postgres: ") and title in cmdline:
            theirs += cpu
    return ours, theirs, sum(os.times()[:2])
