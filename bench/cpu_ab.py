"""Server CPU per request for two or more checkouts of Hotline served side by side.

This machine's speed drifts by 2x within minutes, so throughput measured at different times
compares nothing. Here every checkout serves its own uvicorn process against one database at
the same time, rounds alternate between them, and the servers' own CPU time (/proc) is divided
by the requests they served: the figure A/B-tests a change. Linux only; prints, never asserts.

    git worktree add /tmp/base HEAD~1
    uv run python bench/cpu_ab.py /tmp/base . --requests 1500 --concurrency 16 --rounds 4

A checkout whose schema differs (a new migration) cannot share the database: compare those by
bench/rush.py runs instead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.migrate import upgrade  # noqa: E402
from bench.rush import fire  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from tests.auth_fixtures import make_customer  # noqa: E402
from tests.conftest import create_database, drop_database, make_test_settings  # noqa: E402
from tests.integration.commerce.helpers import make_offer  # noqa: E402
from tests.integration.commerce.servers import free_port, settings_env  # noqa: E402


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text()
    utime, stime = fields[fields.rindex(")") + 2 :].split()[11:13]
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def serve(checkout: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port",
           str(port), "--host", "127.0.0.1", "--log-level", "warning"]  # fmt: skip
    cmd.append("--no-access-log")
    proc = subprocess.Popen(cmd, cwd=checkout, env={**env, "PYTHONPATH": checkout})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{checkout} did not start")


async def main_async(args: Any, url: str) -> None:
    settings = make_test_settings(url)
    runtime = Runtime.build(settings)
    buyers = [await make_customer(runtime) for _ in range(8)]
    offer = await make_offer(runtime, capacity=1_000_000, title="cpu a/b")
    body = json.dumps({"items": [{"offer_id": offer.id, "quantity": 1}]}).encode()
    kinds: dict[str, Any] = {
        "POST /v1/orders": lambda i: ("POST", "/v1/orders", buyers[i % 8].headers, body),
        "GET /v1/me": lambda i: ("GET", "/v1/me", buyers[i % 8].headers, None),
    }
    servers = [serve(str(Path(c).resolve()), settings_env(settings)) for c in args.checkouts]
    spent = {(s, k): [0.0, 0] for s in range(len(servers)) for k in kinds}
    try:
        for _, server_url in servers:  # warm: pools opened, statements prepared
            for make in kinds.values():
                await fire([server_url], 500, args.concurrency, make)
        for r in range(args.rounds):
            order = list(enumerate(servers))
            for s, (proc, server_url) in order if r % 2 == 0 else order[::-1]:
                for kind, make in kinds.items():
                    before = cpu_seconds(proc.pid)
                    await fire([server_url], args.requests, args.concurrency, make)
                    spent[(s, kind)][0] += cpu_seconds(proc.pid) - before
                    spent[(s, kind)][1] += args.requests
    finally:
        for proc, _ in servers:
            proc.terminate()
        await runtime.close()
    for (s, kind), (seconds, n) in sorted(spent.items()):
        print(f"{args.checkouts[s]}: {kind}: {1000 * seconds / n:.3f} ms server CPU per request")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("checkouts", nargs="+", help="directories holding a Hotline checkout")
    p.add_argument("--requests", type=int, default=1500, help="per kind, per round")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--rounds", type=int, default=4)
    args = p.parse_args()
    db_name, url = create_database("hotline_cpu_ab")
    try:
        upgrade(url)
        asyncio.run(main_async(args, url))
    finally:
        drop_database(db_name)


if __name__ == "__main__":
    main()
