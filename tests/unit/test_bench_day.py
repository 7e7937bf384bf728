"""bench/day.py's own arithmetic and client: what it prints rests on these."""

from __future__ import annotations

import asyncio
import os

from bench.day_flows import Http
from bench.day_watch import usage


def test_usage_takes_the_busiest_process_and_the_backends_together() -> None:
    before = (0.0, {("API", 1): 0.0, ("API", 2): 0.0, ("postgres", 9): 0.0}, (0.0, 10.0))
    after = (
        10.0,
        {("API", 1): 9.0, ("API", 2): 1.0, ("postgres", 9): 2.0, ("postgres", 10): 2.0},
        (5.0, 20.0),
    )
    parts = {u.name: u for u in usage(before, after)}
    assert parts["API"].share == 0.9  # one interpreter is one core: the busiest one counts
    assert parts["API"].seconds == 10.0
    cores = os.cpu_count() or 1
    assert parts["postgres"].share == 4.0 / 10.0 / cores  # a backend first seen counts too
    assert parts["machine (everyone)"].share == 0.5
    assert usage(before, after)[0].name == "API"  # fullest first


async def test_the_client_reads_chunked_and_sized_bodies_on_one_connection() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 303 See Other\r\nLocation: /x/1\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = Http(f"http://127.0.0.1:{port}")
    try:
        status, _, body = await conn.call("GET", "/ledger.csv", {}, None)
        assert (status, body) == (200, b"hello world")
        status, head, body = await conn.call("POST", "/form", {}, b"a=1")
        assert (status, body) == (303, b"ok") and b"Location: /x/1" in head
    finally:
        conn.close()
        server.close()
        await server.wait_closed()
