"""A caller without telephony: posts the voice webhooks as a Twilio-compatible provider would
(form fields, `X-Twilio-Signature` computed by twilio's RequestValidator over the public URL),
reads the TwiML answers and presses the next keys where a <Gather> waits. Used by
`hotline call` (api/cli_voice.py), the voice tests and bench/voice.py.

The TwiML parsed here comes from Hotline's own answer to our own request, never from a third
party, so the standard library's XML parser is enough.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from twilio.request_validator import RequestValidator


@dataclass
class Heard:
    """One TwiML answer as the caller experiences it."""

    says: list[tuple[str, str]] = field(default_factory=list)  # (language, text)
    gather: str | None = None  # where the keys go
    redirect: str | None = None
    enqueued: str | None = None  # the skill queue the call waits in
    hung_up: bool = False
    status: int = 200

    @property
    def text(self) -> str:
        return " ".join(t for _, t in self.says)


def parse_twiml(body: str, status: int = 200) -> Heard:
    heard = Heard(status=status)
    if status != 200:
        return heard
    root = ET.fromstring(body)  # noqa: S314 - our own server's TwiML
    for verb in root.iter():
        if verb.tag == "Say":
            heard.says.append((verb.get("language", ""), (verb.text or "").strip()))
        elif verb.tag == "Gather":
            heard.gather = verb.get("action")
        elif verb.tag == "Redirect":
            heard.redirect = (verb.text or "").strip()
        elif verb.tag == "Enqueue":
            heard.enqueued = (verb.text or "").strip()
        elif verb.tag == "Hangup":
            heard.hung_up = True
    return heard


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


class Caller:
    """One call from `phone`, over an httpx-compatible async client (`post(path, data=,
    headers=)`) that reaches the app; URLs are signed as `public_base` + path."""

    def __init__(
        self,
        http: Any,
        *,
        public_base: str,
        auth_token: str,
        phone: str,
        to: str = "+864008001000",
        call_sid: str | None = None,
    ) -> None:
        self.http = http
        self.public_base = public_base.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.call_sid = call_sid or new_call_sid()
        self.fields = {"CallSid": self.call_sid, "From": phone, "To": to, "AccountSid": "AC0"}

    def signature(self, path: str, params: dict[str, str]) -> str:
        return str(self.validator.compute_signature(self.public_base + path, params))

    async def post(self, url: str, extra: dict[str, str] | None = None) -> Any:
        path = url[len(self.public_base) :] if url.startswith(self.public_base) else url
        params = {**self.fields, **(extra or {})}
        return await self.http.post(
            path, data=params, headers={"X-Twilio-Signature": self.signature(path, params)}
        )

    async def step(self, url: str, extra: dict[str, str] | None = None) -> Heard:
        resp = await self.post(url, extra)
        return parse_twiml(resp.text, resp.status_code)

    async def dial(self) -> Heard:
        return await self.step("/v1/voice/incoming", {"CallStatus": "ringing"})

    async def press(self, heard: Heard, keys: str) -> Heard:
        """Answer the <Gather> of `heard` with `keys` (a trailing # ends the entry, as on a
        phone; the provider does not send it); no keys is a Gather that timed out."""
        if not keys:
            assert heard.redirect, "no Redirect after the Gather"
            return await self.step(heard.redirect, {"CallStatus": "in-progress"})
        assert heard.gather, f"nothing waits for keys: {heard.text!r}"
        digits = keys[:-1] if keys.endswith("#") else keys
        return await self.step(heard.gather, {"Digits": digits, "CallStatus": "in-progress"})

    async def walk(self, keys: Sequence[str]) -> list[Heard]:
        """Dial, then press each group of keys where a Gather waits; stops early when the call
        is enqueued or ends."""
        heard = await self.dial()
        said = [heard]
        for group in keys:
            if heard.enqueued or heard.hung_up or heard.status != 200:
                break
            heard = await self.press(heard, group)
            said.append(heard)
        return said

    async def hang_up(self, status: str = "completed", duration: int | None = None) -> int:
        extra = {"CallStatus": status}
        if duration is not None:
            extra["CallDuration"] = str(duration)
        resp = await self.post("/v1/voice/status", extra)
        return int(resp.status_code)


def transcript(said: Sequence[Heard], keys: Sequence[str]) -> list[str]:
    """What the caller heard, line by line, with the keys pressed in between."""
    lines: list[str] = []
    for i, heard in enumerate(said):
        if i and i - 1 < len(keys):
            lines.append(f"  [keys: {keys[i - 1] or '(none)'}]")
        if heard.status != 200:
            lines.append(f"  (the server answered {heard.status})")
        lines += [f"{lang or '?'}: {text}" for lang, text in heard.says]
        if heard.enqueued:
            lines.append(f"  (waiting for an agent in the {heard.enqueued} queue)")
    return lines
