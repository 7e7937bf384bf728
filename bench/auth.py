"""Auth throughput against a real uvicorn server process on a loopback port and a scratch
PostgreSQL database: PIN logins/s (p50/p99, production argon2id parameters), an authenticated
trivial GET (/v1/me), the same GET behind our per-address limiter (/v1/me/throttled, Redis),
and, on a second server, /v1/me behind Litestar's built-in RateLimitMiddleware; ratios.

    uv run python bench/auth.py --requests 400 --concurrency 16

Prints figures, asserts nothing about time. Uses Redis DB 0 with a unique key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
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


async def wait_up(http: httpx.AsyncClient) -> None:
    for _ in range(100):
        try:
            if (await http.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            await asyncio.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def hammer(n: int, conc: int, call: object) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            await call(i)  # type: ignore[operator]
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conc)))
    return n / (time.perf_counter() - start), latencies


async def main(args: argparse.Namespace, url: str) -> None:
    port = free_port()
    env = {
        **os.environ,
        "HOTLINE_ENV": "demo",  # production argon2id parameters (RFC 9106 second option)
        "HOTLINE_DATABASE_URL": url,
        "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "HOTLINE_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_IP_LIMIT_PER_MINUTE": str(10**9),  # measure the limiter's cost, not refusals
    }
    server = None
    try:
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
        server = start_server("bench.auth_app:with_our_limiter", port, env)
        base = f"http://127.0.0.1:{port}"
        limits = httpx.Limits(max_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            await wait_up(http)
            headers = {"Authorization": f"Bearer {token}"}

            async def login(i: int) -> None:
                r = await http.post(
                    "/v1/auth/token", json={"phone": phones[i % len(phones)], "pin": PIN}
                )
                assert r.status_code == 200, r.text

            async def me(_: int) -> None:
                assert (await http.get("/v1/me", headers=headers)).status_code == 200

            async def me_throttled(_: int) -> None:
                r = await http.get("/v1/me/throttled", headers=headers)
                assert r.status_code == 200, r.text

            await hammer(50, args.concurrency, me)  # warm up
            n_login = max(20, args.requests // 10)
            login_rps, login_lat = await hammer(n_login, args.concurrency, login)
            me_rps, me_lat = await hammer(args.requests, args.concurrency, me)
            thr_rps, thr_lat = await hammer(args.requests, args.concurrency, me_throttled)
        server.terminate()
        server.wait(timeout=10)
        server = start_server("bench.auth_app:with_litestar_limiter", port, env)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
            await wait_up(http)
            await hammer(50, args.concurrency, me)  # warm up
            lit_rps, lit_lat = await hammer(args.requests, args.concurrency, me)
        print(
            f"auth bench: uvicorn (1 process) on {base}, concurrency {args.concurrency}; "
            "shared 2-CPU machine, figures indicative only"
        )
        print(
            f"  PIN logins        {n_login:>6} req  {login_rps:8.1f}/s  "
            f"p50 {pct(login_lat, 0.5) * 1000:7.1f} ms  p99 {pct(login_lat, 0.99) * 1000:7.1f} ms"
        )
        print(
            f"  GET /v1/me        {args.requests:>6} req  {me_rps:8.1f}/s  "
            f"p50 {pct(me_lat, 0.5) * 1000:7.1f} ms  p99 {pct(me_lat, 0.99) * 1000:7.1f} ms"
        )
        print(
            f"  GET /v1/me (thr.) {args.requests:>6} req  {thr_rps:8.1f}/s  "
            f"p50 {pct(thr_lat, 0.5) * 1000:7.1f} ms  p99 {pct(thr_lat, 0.99) * 1000:7.1f} ms"
        )
        print(
            f"  GET /v1/me (Litestar lim.) {args.requests:>6} req  {lit_rps:8.1f}/s  "
            f"p50 {pct(lit_lat, 0.5) * 1000:7.1f} ms  p99 {pct(lit_lat, 0.99) * 1000:7.1f} ms"
        )
        print(
            f"  Litestar limiter/plain GET throughput {lit_rps / me_rps:.2f} "
            f"(cost {100 * (1 - lit_rps / me_rps):.1f}%)"
        )
        print(
            f"  our limiter/plain GET throughput {thr_rps / me_rps:.2f} "
            f"(cost {100 * (1 - thr_rps / me_rps):.1f}%); GET/login {me_rps / login_rps:.0f}x"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--customers", type=int, default=8)
    db_name, db_url = create_database("hotline_bench_auth")
    try:
        upgrade(db_url)
        asyncio.run(main(p.parse_args(), db_url))
    finally:
        drop_database(db_name)
