"""The SMS channel: customers book, pay, track and complain by text message.

An entry point like the HTTP routes: it composes the rooms' own use cases (commerce's order
placement and cancel, payments' carrier billing and pay link, fulfillment's e-ticket resend,
ticketing's tickets, comments and survey, auth's PIN check) and owns only what is the
channel's: reading a text (parser, pure), the replies (texts), the pumping budget, the
per-number ordering and the record of the conversation.
"""

from __future__ import annotations

from .context import InboundSms
from .history import MessageOut, MessagePage, conversation
from .inbound import handle

__all__ = ["InboundSms", "MessageOut", "MessagePage", "conversation", "handle"]
