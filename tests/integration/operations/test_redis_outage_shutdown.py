"""A server whose Redis is unreachable still stops promptly on SIGTERM, after it served a
request that told the pages something (a call joining a queue: a live notice on the Redis
channels). A real uvicorn process: shutdown waits are only seen in one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from api.voice_demo import Caller
from tests.integration.commerce.servers import free_port, wait_healthy
from tests.stack import ROOT

PUBLIC = "https://hotline.example.com"
TOKEN = "shutdown-" + uuid.uuid4().hex
STOPS_WITHIN_SECONDS = 4.0  # without Redis configured it stops in well under a second


@pytest.fixture
def server(pg_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    env = {
        **os.environ,
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": pg_url,
        "HOTLINE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_PUBLIC_BASE_URL": PUBLIC,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
    }
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
           "--no-access-log"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy([url], [proc])
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_sigterm_with_redis_down_stops_the_server_promptly(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, proc = server
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        call = Caller(http, public_base=PUBLIC, auth_token=TOKEN, phone="+8613911112222")
        said = await call.walk(["1", "0"])  # Chinese, then an agent: the wallboard is told
    assert said[-1].enqueued, [h.status for h in said]

    proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    try:
        proc.wait(timeout=STOPS_WITHIN_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOPS_WITHIN_SECONDS} s after SIGTERM")
    assert time.monotonic() - started < STOPS_WITHIN_SECONDS
