"""SMS channel throughput against one real uvicorn server process on loopback and a scratch
PostgreSQL database: inbound texts/s with p50/p99 for STATUS and for BOOK (signed Twilio
webhook posts, each with its own MessageSid, from many numbers), and a token-authenticated
trivial GET (/v1/me) in the same run, with the ratio STATUS / GET. The kinds are measured in
alternating rounds (the median round is reported) so drift on a shared machine hits them
alike; requests go over keep-alive connections from bench/rush.py's minimal client.

    uv run python bench/sms.py --requests 1000 --concurrency 16 --rounds 3

Prints figures, asserts nothing about time. Uses Redis DB 0 with a unique key prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import auth  # noqa: E402
import commerce  # noqa: E402
from api.migrate import upgrade  # noqa: E402
from bench.auth import free_port, line, start_server, wait_up  # noqa: E402
from bench.rush import Request, fire  # noqa: E402
from core.money import Money  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import load_settings  # noqa: E402
from tests.auth_fixtures import random_cn_mobile  # noqa: E402
from tests.conftest import create_database, drop_database  # noqa: E402

PUBLIC = "https://hotline.example.com"
PATH = "/v1/webhooks/sms"
TOKEN = uuid.uuid4().hex


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the server process (Linux /proc), to tell its cost from the
    database's on a shared machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def prepare(env: dict[str, str], customers: int, capacity: int) -> tuple[list[str], str, str]:
    settings = load_settings(environ=env)
    runtime = Runtime.build(settings)
    phones = [random_cn_mobile() for _ in range(customers)]
    now = runtime.clock.now()
    async with runtime.sessions() as session, session.begin():
        for phone in phones:
            await auth.create_customer(runtime, session, phone=phone, pin="274915", locale="en")
        customer = await auth.find_customer_by_phone(session, phones[0])
        offer = await commerce.create_offer(
            session,
            kind="event",
            title="bench",
            venue="bench",
            starts_at=now + timedelta(days=30),
            price=Money(1000, settings.currency),
            capacity=capacity,
            now=now,
            code="BENCH1",
        )
    assert customer is not None
    token, _ = auth.customer_token(runtime, customer)
    await runtime.close()
    return phones, token, offer.code


async def main(args: argparse.Namespace, url: str) -> None:
    env = {
        **os.environ,
        "HOTLINE_ENV": "test",
        "HOTLINE_DATABASE_URL": url,
        "HOTLINE_REDIS_URL": "redis://127.0.0.1:6379/0",
        "HOTLINE_REDIS_PREFIX": f"bench{uuid.uuid4().hex[:8]}",
        "HOTLINE_SECRET_KEY": uuid.uuid4().hex * 2,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_PUBLIC_BASE_URL": PUBLIC,
        "HOTLINE_SMS_REPLIES_PER_HOUR": str(10**9),  # measure the channel, not its budget
    }
    books = args.requests * (args.rounds + 1)
    phones, token, code = await prepare(env, args.customers, capacity=books + 100)
    port = free_port()
    server = start_server("api.app:create_app", port, env)
    base = f"http://127.0.0.1:{port}"
    validator = RequestValidator(TOKEN)
    run = uuid.uuid4().hex[:8]
    sent = iter(range(10**9))

    def text(body: str) -> Request:
        n = next(sent)
        params = {
            "From": phones[n % len(phones)],
            "To": "+8610086",
            "Body": body,
            "MessageSid": f"SM{run}{n:010d}",
        }
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": validator.compute_signature(PUBLIC + PATH, params),
        }
        return "POST", PATH, headers, urlencode(params).encode()

    me = {"Authorization": f"Bearer {token}"}
    kinds = {
        "GET /v1/me (token)": lambda i: ("GET", "/v1/me", me, None),
        "SMS STATUS": lambda i: text("STATUS"),
        "SMS BOOK (1 seat, held)": lambda i: text(f"BOOK {code} 1"),
    }
    try:
        wait_up(base)
        for make in kinds.values():
            await fire([base], 100, args.concurrency, make)
        rounds: dict[str, list[tuple[float, list[float]]]] = {k: [] for k in kinds}
        cpu: dict[str, float] = dict.fromkeys(kinds, 0.0)
        for _ in range(args.rounds):
            for name, make in kinds.items():
                before = cpu_seconds(server.pid)
                elapsed, lat, codes = await fire([base], args.requests, args.concurrency, make)
                cpu[name] += cpu_seconds(server.pid) - before
                assert codes == {200: args.requests}, (name, codes)
                rounds[name].append((args.requests / elapsed, lat))
        print(
            f"sms bench: 1 uvicorn process, PostgreSQL, concurrency {args.concurrency}, "
            f"{len(phones)} numbers, {args.rounds} alternating rounds (median round shown); "
            "shared 2-CPU machine"
        )
        median: dict[str, float] = {}
        for name, results in rounds.items():
            rps, lat = sorted(results, key=lambda r: r[0])[len(results) // 2]
            median[name] = statistics.median(r[0] for r in results)
            per = cpu[name] / (args.requests * args.rounds) * 1000
            print(line(name, args.requests, rps, lat) + f"  server CPU {per:5.2f} ms/req")
        plain = median["GET /v1/me (token)"]
        for name in list(kinds)[1:]:
            print(f"  {name}: {median[name] / plain:.2f} of the token GET")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=1000, help="requests per kind and round")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--customers", type=int, default=200, help="numbers texting")
    p.add_argument("--rounds", type=int, default=3)
    db_name, db_url = create_database("hotline_bench_sms")
    try:
        upgrade(db_url)
        asyncio.run(main(p.parse_args(), db_url))
    finally:
        drop_database(db_name)
