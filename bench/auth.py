"""Auth throughput against real uvicorn server processes on loopback and a scratch PostgreSQL
database:
  - PIN logins/s with p50/p99 (production argon2id parameters),
  - an authenticated trivial GET (/v1/me),
  - the same GET behind our per-address limiter (/v1/me/throttled: one Redis count a request),
  - /v1/me on a second server wrapped in Litestar's built-in RateLimitMiddleware,
with the ratios. The three GET kinds are measured in alternating rounds (the median round is
reported) so drift on a shared machine hits them alike; requests go over keep-alive
connections from the minimal client of bench/rush.py, which costs far less CPU than httpx.

    uv run python bench/auth.py --requests 3000 --concurrency 16 --rounds 5

Prints figures, asserts nothing about time. Uses Redis DB 0 with a unique key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import auth  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from bench.rush import Request, fire, pct  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from tests.auth_fixtures import random_cn_mobile  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402

PIN = "274915"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(factory: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        cwd=ROOT,
    )  # fmt: skip


def wait_up(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def line(name: str, n: int, rps: float, lat: list[float]) -> str:
    return (
        f"  {name:<34} {n:>6} req {rps:8.1f}/s  "
        f"p50 {pct(lat, 50) * 1000:7.1f} ms  p99 {pct(lat, 99) * 1000:7.1f} ms"
    )


async def main(args: argparse.Namespace, url: str) -> None:
    env = {
        **os.environ,
        "HOTLINE_ENV": "demo",  # production argon2id parameters (RFC 9106 second option)
        "HOTLINE_DATABASE_URL": url,
        "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "HOTLINE_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_IP_LIMIT_PER_MINUTE": str(10**9),  # measure the limiter's cost, not refusals
    }
    settings = load_settings(environ=env)
    runtime = Runtime.build(settings)
    phones = [random_cn_mobile() for _ in range(args.customers)]
    async with runtime.sessions() as session, session.begin():
        for phone in phones:
            await auth.create_customer(runtime, session, phone=phone, pin=PIN)
        customer = await auth.find_customer_by_phone(session, phones[0])
    assert customer is not None
    token, _ = auth.customer_token(runtime, customer)
    await runtime.close()

    ours_port, litestar_port = free_port(), free_port()
    servers = [
        start_server("bench.auth_app:with_our_limiter", ours_port, env),
        start_server("bench.auth_app:with_litestar_limiter", litestar_port, env),
    ]
    ours, litestar = f"http://127.0.0.1:{ours_port}", f"http://127.0.0.1:{litestar_port}"
    try:
        wait_up(ours)
        wait_up(litestar)
        auth_header = {"Authorization": f"Bearer {token}"}

        def get(path: str) -> Request:
            return "GET", path, auth_header, None

        def login(i: int) -> Request:
            body = json.dumps({"phone": phones[i % len(phones)], "pin": PIN}).encode()
            return "POST", "/v1/auth/token", {}, body

        kinds = {
            "GET /v1/me": ([ours], lambda i: get("/v1/me")),
            "GET /v1/me, our limiter": ([ours], lambda i: get("/v1/me/throttled")),
            "GET /v1/me, Litestar RateLimitMiddleware": ([litestar], lambda i: get("/v1/me")),
        }
        for urls, make in kinds.values():  # warm up every server and path
            await fire(urls, 200, args.concurrency, make)
        n_login = max(20, args.requests // 15)
        elapsed, login_lat, codes = await fire([ours], n_login, args.concurrency, login)
        assert codes == {200: n_login}, codes
        login_rps = n_login / elapsed
        rounds: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in kinds}
        for _ in range(args.rounds):
            for name, (urls, make) in kinds.items():
                elapsed, lat, codes = await fire(urls, args.requests, args.concurrency, make)
                assert codes == {200: args.requests}, (name, codes)
                rounds[name].append((args.requests / elapsed, lat))
        print(
            f"auth bench: 1 uvicorn process per server, concurrency {args.concurrency}, "
            f"{args.rounds} alternating rounds (median round shown); shared 2-CPU machine"
        )
        print(line("PIN logins (argon2id 64 MiB, t=3)", n_login, login_rps, login_lat))
        median: dict[str, float] = {}
        for name, results in rounds.items():
            rps_sorted = sorted(results, key=lambda r: r[0])
            rps, lat = rps_sorted[len(rps_sorted) // 2]
            median[name] = statistics.median(r[0] for r in results)
            print(line(name, args.requests, rps, lat))
        plain = median["GET /v1/me"]
        for name in list(kinds)[1:]:
            ratio = median[name] / plain
            print(f"  {name}: {ratio:.2f} of the plain GET (cost {100 * (1 - ratio):.1f}%)")
        print(f"  plain GET / PIN login throughput: {plain / login_rps:.0f}x")
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=3000, help="requests per GET round")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--customers", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    db_name, db_url = create_database("hotline_bench_auth")
    try:
        upgrade(db_url)
        asyncio.run(main(p.parse_args(), db_url))
    finally:
        drop_database(db_name)
