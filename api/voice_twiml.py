"""TwiML answers of the IVR, written down as a plan and rendered by twilio's VoiceResponse.

Most answers are the same few documents (the menu in Chinese or English, the PIN prompt, the
hand-off), and rendering one with VoiceResponse (ElementTree underneath) costs about as much
CPU as the rest of a menu step's own work (bench/voice.py). So a step records its verbs as
plain tuples, and `render` builds and serialises the VoiceResponse once per distinct plan
(an LRU cache: answers that name an order or an amount come and go).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

Verb = tuple[Any, ...]


class Gather:
    def __init__(self) -> None:
        self.says: list[tuple[str, str]] = []

    def say(self, text: str, language: str) -> None:
        self.says.append((text, language))


class Plan:
    """The verbs of one answer, in order: say, gather (with its says), redirect, enqueue."""

    def __init__(self) -> None:
        self.verbs: list[Verb | tuple[str, tuple[tuple[str, Any], ...], Gather]] = []

    def say(self, text: str, language: str) -> None:
        self.verbs.append(("say", text, language))

    def gather(self, **attrs: Any) -> Gather:
        g = Gather()
        self.verbs.append(("gather", tuple(sorted(attrs.items())), g))
        return g

    def redirect(self, url: str) -> None:
        self.verbs.append(("redirect", url))

    def enqueue(self, queue: str) -> None:
        self.verbs.append(("enqueue", queue))

    def key(self) -> tuple[Verb, ...]:
        return tuple(
            ("gather", v[1], tuple(v[2].says)) if v[0] == "gather" else v for v in self.verbs
        )

    def render(self) -> str:
        return _render(self.key())

    @property
    def enqueued(self) -> str | None:
        return next((v[1] for v in self.verbs if v[0] == "enqueue"), None)


@lru_cache(maxsize=512)
def _render(plan: tuple[Verb, ...]) -> str:
    r = VoiceResponse()
    for verb in plan:
        if verb[0] == "say":
            r.say(verb[1], language=verb[2])
        elif verb[0] == "gather":
            g = r.gather(**dict(verb[1]))
            for text, language in verb[2]:
                g.say(text, language=language)
        elif verb[0] == "redirect":
            r.redirect(verb[1], method="POST")
        elif verb[0] == "enqueue":
            r.enqueue(verb[1])
    return str(r)
