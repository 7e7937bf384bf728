"""IVR throughput against one real uvicorn server process on loopback, a scratch PostgreSQL
database and Redis (the call state), in the same run as the trivial authenticated GET:
  - menu steps/s with p50/p99: signed form posts walking calls of a known caller through
    incoming -> an invalid key (menu again) -> a timed-out Gather (its Redirect) -> 0 (an
    agent: the call is enqueued) -> the status callback; each step reads and writes the call's
    state in Redis and its record in PostgreSQL;
  - GET /v1/me with a customer token;
  - the ratio (goal: menu steps at least 0.3 of the GET);
  - for information, whole self-service calls with the PIN (incoming -> 1 -> PIN -> order
    status -> hang-up): their steps/s is bounded by argon2id (64 MiB, t=3), as logins are.
Rounds alternate (the median round is reported) so drift on a shared machine hits both alike;
requests go over keep-alive connections from the minimal client of bench/rush.py.

    uv run python bench/voice.py --calls 300 --concurrency 16 --rounds 5

Prints figures, asserts nothing about time. Uses Redis DB 0 with a unique key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import auth  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from api.voice_demo import Caller, new_call_sid  # noqa: E402
from bench.auth import free_port, line, wait_up  # noqa: E402
from bench.cpu_ab import cpu_seconds  # noqa: E402
from bench.rush import Connection, fire, pct  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from tests.auth_fixtures import random_cn_mobile  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402

PIN = "274915"
MENU_CALL = [("incoming", ""), ("menu", "9"), ("menu", ""), ("menu", "0"), ("status", "")]
PIN_CALL = [("incoming", ""), ("menu", "1"), ("pin", PIN), ("status", "")]


def start_server(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """One uvicorn process; its log lines (one access line per request, GET or step alike)
    are written as in production but not shown."""
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def step_request(signer: Caller, sid: str, phone: str, step: str, keys: str) -> tuple:
    path = {"incoming": "/v1/voice/incoming", "status": "/v1/voice/status"}.get(
        step, f"/v1/voice/gather/{step}"
    )
    params = {"CallSid": sid, "From": phone, "To": "+864008001000", "AccountSid": "AC0"}
    params["CallStatus"] = "completed" if step == "status" else "in-progress"
    if step not in ("incoming", "status"):
        params["Digits"] = keys
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signer.signature(path, params),
    }
    return "POST", path, headers, urlencode(params).encode()


async def walk_calls(
    url: str, signer: Caller, phones: list[str], calls: int, concurrency: int, script: list
) -> tuple[float, list[float], dict[int, int]]:
    """`calls` calls, each its steps in order on one connection; `concurrency` at a time."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    jobs = iter(range(calls))

    async def worker() -> None:
        conn = Connection(url)
        try:
            for i in jobs:
                sid, phone = new_call_sid(), phones[i % len(phones)]
                for step, keys in script:
                    t0 = time.perf_counter()
                    status, _ = await conn.request(*step_request(signer, sid, phone, step, keys))
                    latencies.append(time.perf_counter() - t0)
                    codes[status] = codes.get(status, 0) + 1
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return time.perf_counter() - t0, latencies, codes


async def main(args: argparse.Namespace, db_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    token = uuid.uuid4().hex
    env = {
        **os.environ,
        "HOTLINE_ENV": "demo",  # production argon2id parameters (RFC 9106 second option)
        "HOTLINE_WORKER": "dramatiq",  # no in-process periodic jobs in the measured server
        "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "HOTLINE_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_TWILIO_AUTH_TOKEN": token,
        "HOTLINE_PUBLIC_BASE_URL": base,
        "HOTLINE_IP_LIMIT_PER_MINUTE": str(10**9),
        "HOTLINE_PIN_MAX_FAILURES": str(10**6),
    }
    settings = load_settings(environ=env)
    runtime = Runtime.build(settings)
    phones = [random_cn_mobile() for _ in range(args.customers)]
    async with runtime.sessions() as session, session.begin():
        for phone in phones:
            await auth.create_customer(runtime, session, phone=phone, pin=PIN)
        customer = await auth.find_customer_by_phone(session, phones[0])
    assert customer is not None
    me_token, _ = auth.customer_token(runtime, customer)
    await runtime.close()
    signer = Caller(None, public_base=base, auth_token=token, phone=phones[0])
    server = start_server(port, env)
    try:
        wait_up(base)
        get = ("GET", "/v1/me", {"Authorization": f"Bearer {me_token}"}, None)
        await fire([base], 200, args.concurrency, lambda i: get)  # warm up
        await walk_calls(base, signer, phones, 20, args.concurrency, MENU_CALL)
        steps = args.calls * len(MENU_CALL)
        rounds: dict[str, list[tuple[float, list[float]]]] = {"get": [], "menu": []}
        cpu: dict[str, float] = {"get": 0.0, "menu": 0.0}  # the server's own CPU seconds
        for _ in range(args.rounds):
            c0 = cpu_seconds(server.pid)
            elapsed, lat, codes = await fire([base], steps, args.concurrency, lambda i: get)
            assert codes == {200: steps}, codes
            rounds["get"].append((steps / elapsed, lat))
            c1 = cpu_seconds(server.pid)
            elapsed, lat, codes = await walk_calls(
                base, signer, phones, args.calls, args.concurrency, MENU_CALL
            )
            assert set(codes) <= {200, 204} and sum(codes.values()) == steps, codes
            rounds["menu"].append((steps / elapsed, lat))
            cpu["get"] += c1 - c0
            cpu["menu"] += cpu_seconds(server.pid) - c1
        pin_calls = max(8, args.calls // 15)
        elapsed, pin_lat, codes = await walk_calls(
            base, signer, phones, pin_calls, args.concurrency, PIN_CALL
        )
        assert set(codes) <= {200, 204}, codes
        pin_steps = pin_calls * len(PIN_CALL)
        print(
            f"voice bench: 1 uvicorn process, concurrency {args.concurrency}, {args.rounds} "
            f"alternating rounds of {steps} requests (median round shown); shared 2-CPU machine"
        )
        median = {}
        for name, label in (("get", "GET /v1/me"), ("menu", "IVR menu steps (no PIN)")):
            ordered = sorted(rounds[name], key=lambda r: r[0])
            rps, lat = ordered[len(ordered) // 2]
            median[name] = statistics.median(r[0] for r in rounds[name])
            print(line(label, steps, rps, lat))
        print(line("IVR steps of calls with the PIN", pin_steps, pin_steps / elapsed, pin_lat))
        ratio = median["menu"] / median["get"]
        print(f"  menu steps: {ratio:.2f} of the authenticated GET (goal >= 0.30)")
        n = steps * args.rounds
        per = {k: 1000 * v / n for k, v in cpu.items()}
        print(
            f"  server CPU per request: GET {per['get']:.2f} ms, menu step {per['menu']:.2f} ms "
            f"-> {per['get'] / per['menu']:.2f} (the ratio a saturated server would reach; "
            "load from other processes on the machine does not move it)"
        )
        all_menu = [x for _, lat in rounds["menu"] for x in lat]
        print(f"  menu step p99 over all rounds: {pct(all_menu, 99) * 1000:.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=300, help="calls per menu round (5 steps each)")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--customers", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    db_name, db_url = create_database("hotline_bench_voice")
    try:
        upgrade(db_url)
        asyncio.run(main(p.parse_args(), db_url))
    finally:
        drop_database(db_name)
