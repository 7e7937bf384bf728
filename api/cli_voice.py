"""`hotline call`: walk an IVR call without telephony and print what the caller hears; and the
agent's side of a call (`hotline call-answer`, `hotline call-wrap-up`). Registered on
`hotline` by api.admin_cli.

Without `--url` the call is driven against an app built in this process over the configured
database (the demo's SQLite file, shared with a running `make run`), signed with a one-off
provider token given to that app alone: the demo needs no Twilio account. With `--url` it
drives a running server, signed with HOTLINE_TWILIO_AUTH_TOKEN over HOTLINE_PUBLIC_BASE_URL
(the values that server was started with).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import sys

import click
import httpx
import structlog

import ticketing
import web
from api.cli_group import main, run_with_runtime, settings_or_exit
from api.voice_demo import Caller, transcript
from core.errors import DomainError
from core.runtime import Runtime


def _keys(raw: str) -> list[str]:
    """`1,274915#` -> ["1", "274915#"]: one group per <Gather>; an empty group is silence."""
    return [k.strip() for k in raw.split(",")] if raw else []


@main.command("call")
@click.option("--from", "phone", required=True, help="the calling number, e.g. +8613800138000")
@click.option("--keys", default="", help="keys per prompt, comma separated: 1,274915#,0")
@click.option("--to", default="+864008001000", show_default=True, help="the number called")
@click.option("--url", default=None, help="a running server's base URL (default: in-process)")
@click.option("--stay", is_flag=True, help="leave the call waiting in its queue (no hang-up)")
def call(phone: str, keys: str, to: str, url: str | None, stay: bool) -> None:
    """Call the IVR as a provider would and print what the caller hears."""
    settings = settings_or_exit()
    groups = _keys(keys)

    async def walk(http: httpx.AsyncClient, token: str) -> None:
        caller = Caller(
            http, public_base=settings.public_base_url, auth_token=token, phone=phone, to=to
        )
        said = await caller.walk(groups)
        for line in transcript(said, groups):
            click.echo(line)
        if said[-1].enqueued and stay:
            click.echo(
                f"call {caller.call_sid} waits in {said[-1].enqueued}; answer it with "
                f"hotline call-answer {caller.call_sid} --agent-id ID"
            )
            return
        await caller.hang_up("completed")
        click.echo(f"(hung up; the record is GET /v1/calls/{caller.call_sid})")

    async def in_process() -> None:
        from api.app import create_app

        token = secrets.token_hex(16)
        app_settings = dataclasses.replace(settings, twilio_auth_token=token)
        app = create_app(app_settings)  # no lifespan: no periodic jobs in this process
        runtime: Runtime = app.state.runtime
        # what the caller hears, not the app's request log (the server's own log has it)
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        logging.getLogger("httpx").setLevel(logging.WARNING)
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://ivr.local") as c:
                await walk(c, token)
        finally:
            await runtime.close()

    async def remote(base: str) -> None:
        if not settings.twilio_auth_token:
            click.echo("--url needs HOTLINE_TWILIO_AUTH_TOKEN (the server's)", err=True)
            sys.exit(2)
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            await walk(c, settings.twilio_auth_token)

    asyncio.run(remote(url) if url else in_process())


@main.command("call-answer")
@click.argument("call_sid")
@click.option("--agent-id", required=True, help="agents.id of the agent taking the call")
def call_answer(call_sid: str, agent_id: str) -> None:
    """Record that an agent answered a waiting call (also POST /v1/calls/{sid}/answer)."""

    async def go(runtime: Runtime) -> ticketing.Call:
        async with runtime.sessions() as session, session.begin():
            call = await ticketing.answer_call(session, call_sid, agent_id, runtime.clock.now())
        if runtime.redis is not None:  # the servers' wallboards hear it over Redis pub/sub
            publish = web.redis_publisher(runtime.redis)
            await web.tell_call(publish, runtime.settings, call.call_sid, "answered")
        return call

    try:
        c = run_with_runtime(go)
    except DomainError as exc:
        click.echo(f"refused: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"call {c.call_sid} answered by {c.agent_id} (queue {c.queue})")


@main.command("call-wrap-up")
@click.argument("call_sid")
@click.option("--agent-id", required=True, help="the agent who answered")
@click.option("--code", required=True, help="wrap-up code, e.g. billing-question")
def call_wrap_up(call_sid: str, agent_id: str, code: str) -> None:
    """Record the wrap-up code of an answered call (also POST /v1/calls/{sid}/wrap-up)."""

    async def go(runtime: Runtime) -> ticketing.Call:
        async with runtime.sessions() as session, session.begin():
            return await ticketing.wrap_up_call(
                session, call_sid, agent_id, code, runtime.clock.now()
            )

    try:
        c = run_with_runtime(go)
    except DomainError as exc:
        click.echo(f"refused: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"call {c.call_sid} wrapped up: {c.wrap_up_code}")
