"""An agent's public reply on a ticket opened by SMS goes to the customer by SMS: a feature
phone sees no web page. The customer's answer (any text that is not a command) joins that
ticket (api.sms_channel.tickets.join_open_ticket)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

import auth
import ticketing
from core.errors import NotFound
from core.principal import Principal
from core.sms import SmsSender

MAX_BODY = 500  # the agent's words in the text; the rest is on the ticket
TEXTS = {
    "zh": "【Hotline】工单{number}客服回复：{body}（直接回复本短信即可）",
    "en": "Hotline ticket {number}: {body} (reply to this text to answer)",
}


async def text_agent_reply(
    session: AsyncSession, sms: SmsSender, ticket_id: str, principal: Principal, body: str
) -> bool:
    """Queue the reply for the customer (in the caller's transaction: it leaves after the
    commit); False when the ticket did not come by SMS or its customer is gone."""
    ticket = await ticketing.get_for(session, ticket_id, principal)
    if ticket.channel != "sms":
        return False
    try:
        customer = await auth.get_customer(session, ticket.customer_id)
    except NotFound:
        return False
    words = body.strip()
    if len(words) > MAX_BODY:
        words = words[: MAX_BODY - 1] + "…"
    language = "en" if (customer.locale or "").startswith("en") else "zh"
    text = TEXTS[language].format(number=ticket.number, body=words)
    await sms.send(session, customer.phone, text, purpose="ticket.reply", ticket_id=ticket.id)
    return True
