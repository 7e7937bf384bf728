"""A deployment in miniature on loopback: N uvicorn API processes and N `python -m api.worker`
processes sharing one PostgreSQL database and one Redis key prefix, as on several machines
(README, "Deployment on several machines"). Used by tests/multi and bench/day.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.commerce.servers import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[1]


def stack_env(db_url: str, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    """What every process of one deployment must agree on: database, Redis and its prefix,
    secret key, public base URL; jobs go to the Dramatiq workers, not in-process."""
    env = {
        **os.environ,
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_REDIS_URL": redis_url,
        "HOTLINE_REDIS_PREFIX": prefix,
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_PUBLIC_BASE_URL": "http://hotline.test",
        "HOTLINE_WORKER": "dramatiq",
        "HOTLINE_IP_LIMIT_PER_MINUTE": str(10**9),  # every client is 127.0.0.1 here
    }
    env.update(extra)
    return env


@dataclass
class Stack:
    env: dict[str, str]
    urls: list[str] = field(default_factory=list)
    apis: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.worker"],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.workers.append(proc)
        return proc

    def start_api(self) -> str:
        port = free_port()
        cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
               "--no-access-log"]  # fmt: skip
        self.apis.append(subprocess.Popen(cmd, cwd=ROOT, env=self.env))
        self.urls.append(f"http://127.0.0.1:{port}")
        return self.urls[-1]

    def wait_up(self, timeout: float = 90) -> None:
        wait_healthy(self.urls, self.apis, timeout)

    def stop(self) -> None:
        for proc in [*self.apis, *self.workers]:
            stop(proc)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running_stack(env: dict[str, str], apis: int = 2, workers: int = 2) -> Iterator[Stack]:
    stack = Stack(env)
    try:
        for _ in range(workers):
            stack.start_worker()
        for _ in range(apis):
            stack.start_api()
        stack.wait_up()
        yield stack
    finally:
        stack.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
