"""`hotline sms-send`: text the hotline as a given phone and print the reply, without Twilio.

With HOTLINE_TWILIO_AUTH_TOKEN set it posts a Twilio-signed inbound message to the running
server's webhook (`--url`, by default HOTLINE_PUBLIC_BASE_URL), exactly as the gateway would.
Without one (the embedded demo: the webhook refuses unsigned posts) it hands the message to
the SMS channel through this process's own composition, the same code the webhook runs.
Either way the text and the reply are stored and visible on the customer's record and in
the demo's SMS outbox; what a command queued (a pay link, e-tickets) leaves after the commit.
"""

from __future__ import annotations

import sys
import uuid
import xml.etree.ElementTree as ET

import click
import httpx
from twilio.request_validator import RequestValidator

from api import sms_channel
from api.cli_group import main, run_with_services, settings_or_exit
from api.composition import Services

PATH = "/v1/webhooks/sms"


@main.command("sms-send")
@click.option("--from", "sender", required=True, help="the customer's phone, e.g. +8613800138000")
@click.option("--to", "to", default="", help="the hotline's number (default HOTLINE_TWILIO_FROM)")
@click.option("--url", default="", help="the server (default HOTLINE_PUBLIC_BASE_URL)")
@click.option("--direct", is_flag=True, help="through this process, not the server's webhook")
@click.argument("body", nargs=-1, required=True)
def sms_send(sender: str, to: str, url: str, direct: bool, body: tuple[str, ...]) -> None:
    """Text BODY to the hotline as --from and print the reply (e.g. 'BOOK JAY2026 2')."""
    settings = settings_or_exit()
    text = " ".join(body)
    to = to or settings.twilio_from or "+8610086"
    sid = "SMcli" + uuid.uuid4().hex
    if direct or not settings.twilio_auth_token:
        inbound = sms_channel.InboundSms(message_sid=sid, sender=sender, to=to, body=text)

        async def go(services: Services) -> str:
            reply, _ = await sms_channel.handle(services, inbound)
            return reply

        reply = run_with_services(go)
    else:
        base = (url or settings.public_base_url).rstrip("/")
        params = {"From": sender, "To": to, "Body": text, "MessageSid": sid}
        signature = RequestValidator(settings.twilio_auth_token).compute_signature(
            settings.public_base_url.rstrip("/") + PATH, params
        )
        try:
            r = httpx.post(
                base + PATH, data=params, headers={"X-Twilio-Signature": signature}, timeout=30
            )
        except httpx.HTTPError as exc:
            click.echo(f"could not reach {base}: {exc}", err=True)
            sys.exit(1)
        if r.status_code != 200:
            click.echo(f"the server answered {r.status_code}: {r.text[:500]}", err=True)
            sys.exit(1)
        message = ET.fromstring(r.text).find("Message")  # noqa: S314 (our own server's TwiML)
        reply = (message.text or "") if message is not None else ""
    click.echo(reply if reply else "(no reply: this number is not answered right now)")
