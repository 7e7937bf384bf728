"""Ticket-rush benchmark: one hot offer, many concurrent clients over HTTP.

Reports orders/s, p50/p99 latency and sold vs capacity for 1 and 2 server processes, and two
references measured in the same run against the same PostgreSQL:
  - a token-authenticated trivial GET on the same servers (the HTTP + auth floor),
  - pgbench running the minimal equivalent transaction (conditional capacity update + the order
    row + its history row) with `pgbench -n -f script.sql -c 8 -j 2 -T <s>`: the database's own
    ceiling for this work, run before and after the HTTP runs; the ratio uses the higher.
Prints figures; never asserts on time. Needs PostgreSQL and Redis as for the tests.

    uv run python bench/rush.py --orders 1500 --concurrency 64 --pgbench-seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.migrate import upgrade  # noqa: E402
from commerce import Offer  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from tests.auth_fixtures import make_customer  # noqa: E402
from tests.conftest import PG_ADMIN, create_database, drop_database, make_test_settings  # noqa: E402
from tests.integration.commerce.helpers import available, make_offer, seats_sold  # noqa: E402
from tests.integration.commerce.servers import uvicorn_servers  # noqa: E402

TRIVIAL_GETS = ("/v1/me", "/v1/orders?limit=1")

PGBENCH_SCRIPT = """\
BEGIN;
UPDATE offers SET available = available - 1 WHERE id = '{offer}' AND available >= 1;
WITH o AS (
  INSERT INTO orders (id, number, customer_id, status, channel, currency, subtotal, booking_fee,
                      delivery_fee, total, delivery_method, delivery_address, hold_expires_at,
                      created_by, created_at, updated_at)
  VALUES (md5(random()::text), upper(substr(md5(random()::text), 1, 8)), '{customer}',
          'awaiting_payment', 'web', 'CNY', 68000, 500, 0, 68500, 'e_ticket', NULL,
          now() + interval '15 minutes', 'customer:{customer}', now(), now())
  RETURNING id
)
INSERT INTO order_events (id, order_id, from_status, to_status, actor, channel, reason, at)
SELECT md5(random()::text), id, NULL, 'awaiting_payment', 'customer:{customer}', 'web',
       'order placed', now() FROM o;
COMMIT;
"""


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


class Connection:
    """A minimal keep-alive HTTP/1.1 client connection. httpx spends more CPU per request than
    the server does on a trivial route, so on two cores it would measure itself; this does not."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
    ) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body is not None:
            if not any(k.lower() == "content-type" for k in headers):  # a form post names its own
                lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        data = await self.reader.readexactly(int(m.group(1))) if m else b""
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


Request = tuple[str, str, dict[str, str], bytes | None]


async def fire(
    urls: list[str], n: int, concurrency: int, make_request: Callable[[int], Request]
) -> tuple[float, list[float], dict[int, int]]:
    """n requests from `concurrency` keep-alive connections spread over the servers."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    jobs = iter(range(n))

    async def worker(w: int) -> None:
        conn = Connection(urls[w % len(urls)])
        try:
            for i in jobs:
                t0 = time.perf_counter()
                status, _ = await conn.request(*make_request(i))
                dt = time.perf_counter() - t0
                codes[status] = codes.get(status, 0) + 1
                if status < 300:
                    latencies.append(dt)
        finally:
            conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker(w) for w in range(concurrency)])
    return time.perf_counter() - t0, latencies, codes


async def rush(runtime: Runtime, urls: list[str], buyers: list[Any], args: Any) -> dict[str, Any]:
    capacity = int(args.orders * 0.9)
    offer = await make_offer(runtime, capacity=capacity, title="周杰伦演唱会 rush")
    body = json.dumps({"items": [{"offer_id": offer.id, "quantity": 1}]}).encode()

    def order(i: int) -> Request:
        return "POST", "/v1/orders", buyers[i % len(buyers)].headers, body

    elapsed, lat, codes = await fire(urls, args.orders, args.concurrency, order)
    sold = await seats_sold(runtime, offer.id)
    return {
        "orders_per_s": codes.get(201, 0) / elapsed,
        "requests_per_s": args.orders / elapsed,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "sold": sold,
        "capacity": capacity,
        "available_after": await available(runtime, offer.id),
        "codes": codes,
    }


async def trivial_get(urls: list[str], buyers: list[Any], args: Any) -> dict[str, Any]:
    path = TRIVIAL_GETS[-1]
    probe = Connection(urls[0])
    for candidate in TRIVIAL_GETS:
        if (await probe.request("GET", candidate, buyers[0].headers))[0] == 200:
            path = candidate
            break
    probe.close()

    def get(i: int) -> Request:
        return "GET", path, buyers[i % len(buyers)].headers, None

    elapsed, lat, codes = await fire(urls, args.orders, args.concurrency, get)
    return {
        "path": path,
        "requests_per_s": codes.get(200, 0) / elapsed,
        "p50_ms": pct(lat, 50) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
    }


async def pgbench_ceiling(runtime: Runtime, db_name: str, customer_id: str, seconds: int) -> float:
    offer = await make_offer(runtime, capacity=1_000_000, title="pgbench offer")
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(PGBENCH_SCRIPT.format(offer=offer.id, customer=customer_id))
        script = f.name
    dsn = f"{PG_ADMIN.rsplit('/', 1)[0]}/{db_name}"
    cmd = ["pgbench", "-n", "-f", script, "-c", "8", "-j", "2", "-T", str(seconds), dsn]
    for _ in range(2):  # a client aborted by a transient error ends pgbench with 2
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            break
        print(f"pgbench exited {done.returncode}: {done.stderr.strip()[-300:]}")
    done.check_returncode()
    m = re.search(r"tps = ([0-9.]+)", done.stdout)
    async with runtime.sessions() as session:
        left = await session.get(Offer, offer.id)
        assert left is not None and left.available >= 0
    return float(m.group(1)) if m else float("nan")


async def main_async(args: Any, db_name: str, url: str) -> None:
    settings = make_test_settings(url)
    runtime = Runtime.build(settings)
    buyers = [await make_customer(runtime) for _ in range(args.customers)]
    print(f"bench/rush.py on a shared {args.cpus}-CPU machine: orders={args.orders} "
          f"concurrency={args.concurrency} customers={args.customers}")  # fmt: skip
    # The ceiling is measured before and after the HTTP runs and the higher one is used:
    # this machine's speed drifts by 2x within minutes, and the ratio must not flatter us.
    before = await pgbench_ceiling(runtime, db_name, buyers[0].id, args.pgbench_seconds)
    results = []
    for processes in args.processes:
        with uvicorn_servers(settings, count=processes, app=args.app) as urls:
            # Warm at full concurrency: every pooled connection opened, statements prepared.
            warm = argparse.Namespace(orders=8 * args.concurrency, concurrency=args.concurrency)
            await rush(runtime, urls, buyers, warm)
            r = await rush(runtime, urls, buyers, args)
            g = await trivial_get(urls, buyers, args)
        results.append((processes, r, g))
    after = await pgbench_ceiling(runtime, db_name, buyers[0].id, args.pgbench_seconds)
    ceiling = max(before, after)
    print(f"pgbench ceiling (update+order+history, -c 8 -j 2 -T {args.pgbench_seconds}): "
          f"{before:.0f} tps before, {after:.0f} after; ratios use {ceiling:.0f}")  # fmt: skip
    for processes, r, g in results:
        ratio = r["orders_per_s"] / ceiling if ceiling else float("nan")
        print(
            f"{processes} process(es): {r['orders_per_s']:.0f} orders/s "
            f"(p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms), sold {r['sold']}/"
            f"{r['capacity']}, available after {r['available_after']}, codes {r['codes']}; "
            f"ratio to pgbench {ratio:.2f} (goal >= 0.33); "
            f"trivial GET {g['path']}: {g['requests_per_s']:.0f} req/s "
            f"(p50 {g['p50_ms']:.1f} ms, p99 {g['p99_ms']:.1f} ms), "
            f"orders/s vs GET {r['orders_per_s'] / g['requests_per_s']:.2f}"
        )
        if r["sold"] != r["capacity"] or r["available_after"] != 0:
            print("  !! sold does not match capacity")
    print("pretix's published design limit: 300-400 tickets/minute/event = 5-7 orders/s")
    await runtime.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--orders", type=int, default=1500)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--customers", type=int, default=16)
    p.add_argument("--processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
    p.add_argument("--pgbench-seconds", type=int, default=10)
    p.add_argument("--app", default="api.app:create_app", help="uvicorn factory")
    p.add_argument("--cpus", type=int, default=2)
    args = p.parse_args()
    db_name, url = create_database("hotline_bench")
    try:
        upgrade(url)
        asyncio.run(main_async(args, db_name, url))
    finally:
        drop_database(db_name)


if __name__ == "__main__":
    main()
