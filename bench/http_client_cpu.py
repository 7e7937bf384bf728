"""CPU per GET of the two HTTP clients the Stripe gateway could read with (payments/gateway.py,
the webhook's PaymentIntent re-fetch): httpx.AsyncClient vs aiohttp.ClientSession, keep-alive,
against a trivial aiohttp server in another process answering ~3 KB of JSON (a PaymentIntent's
size). Measures the client process's CPU time per request, which is what a webhook pays.

    uv run python bench/http_client_cpu.py --requests 3000 --concurrency 1 16

Prints figures; never asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

BODY = json.dumps({"id": "pi_x", "object": "payment_intent", "pad": "x" * 3000}).encode()
PARAMS = {"expand[0]": "latest_charge.balance_transaction"}
HEADERS = {"Authorization": "Bearer sk_test", "Stripe-Version": "2025-01-01"}


def serve(port: int) -> None:
    from aiohttp import web

    async def intent(request: web.Request) -> web.Response:
        return web.Response(body=BODY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/v1/payment_intents/{id}", intent)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def client(kind: str, url: str) -> tuple[Callable[[int], Awaitable[Any]], Any]:
    if kind == "httpx":
        import httpx

        hx = httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=10)

        async def get_httpx(i: int) -> bytes:
            r = await hx.get(f"/v1/payment_intents/pi_{i}", params=PARAMS)
            return r.content

        return get_httpx, hx.aclose
    import aiohttp

    ah = aiohttp.ClientSession(headers=HEADERS, timeout=aiohttp.ClientTimeout(sock_read=10))

    async def get_aiohttp(i: int) -> bytes:
        async with ah.get(f"{url}/v1/payment_intents/pi_{i}", params=PARAMS) as r:
            return await r.read()

    return get_aiohttp, ah.close


async def run(kind: str, url: str, n: int, c: int) -> None:
    get, close = await client(kind, url)

    async def drive() -> tuple[float, float]:
        ids = itertools.count()

        async def worker() -> None:
            while (i := next(ids)) < n:
                await get(i)

        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*[worker() for _ in range(c)])
        return time.perf_counter() - t0, time.process_time() - c0

    await drive()  # warm up: connections opened, code paths taken
    wall, cpu = await drive()
    await close()
    print(f"{kind:8} concurrency {c:3}  {n / wall:8.0f}/s  client CPU {1e6 * cpu / n:7.0f} µs/GET")


def main() -> None:
    import uvloop

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, nargs="+", default=[1, 16])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    time.sleep(1.5)
    try:
        for _ in range(args.rounds):
            for c in args.concurrency:
                for kind in ("httpx", "aiohttp"):
                    uvloop.run(run(kind, f"http://127.0.0.1:{port}", args.requests, c))
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
