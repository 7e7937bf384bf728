"""Start real uvicorn server processes for multi-process tests (and stop them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    urls: list[str], procs: list[subprocess.Popen[bytes]], timeout: float = 90
) -> None:
    """Every server answers /health (a loaded 2-core CI box imports slowly); polls, no sleep
    stands in for readiness, and a server that exited says so at once."""
    deadline = time.monotonic() + timeout
    for url, proc in zip(urls, procs, strict=True):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server for {url} exited with {proc.returncode}")
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {url} did not start")
            time.sleep(0.05)


def settings_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HOTLINE_ENV": settings.env,
            "HOTLINE_DATABASE_URL": settings.database_url,
            "HOTLINE_REDIS_URL": settings.redis_url,
            "HOTLINE_REDIS_PREFIX": settings.redis_prefix,
            "HOTLINE_SECRET_KEY": settings.secret_key,
            "HOTLINE_PUBLIC_BASE_URL": settings.public_base_url,
            "HOTLINE_WORKER": "inprocess",
        }
    )
    return env


@contextmanager
def uvicorn_servers(
    settings: Settings,
    count: int = 2,
    app: str = "api.app:create_app",
    extra_env: dict[str, str] | None = None,
) -> Iterator[list[str]]:
    """`count` uvicorn processes serving `app` (a factory) against settings' database."""
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    env = {**settings_env(settings), **(extra_env or {})}
    try:
        for _ in range(count):
            port = free_port()
            cmd = [sys.executable, "-m", "uvicorn", app, "--factory", "--host", "127.0.0.1",
                   "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env))
            urls.append(f"http://127.0.0.1:{port}")
        wait_healthy(urls, procs)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
