"""COMPLAIN, a reply joining an open ticket, and the 1-5 survey: ticketing's use cases."""

from __future__ import annotations

import commerce
import ticketing

from .context import Answer, Turn

SUBJECT = 60  # characters of the complaint that make the ticket's subject


async def complain(turn: Turn) -> Answer:
    words = turn.command.text or ""
    latest = await commerce.list_orders(turn.session, turn.principal, limit=1)
    orders = [o.id for o in latest.items]
    ticket = await ticketing.open_ticket(
        turn.session,
        turn.principal,
        now=turn.now,
        category="service",
        subject=words[:SUBJECT],
        description=words,
        channel="sms",
        order_ids=orders,
    )
    return Answer(
        turn.say("complaint", ticket=ticket.number),
        "ticket_opened",
        order_id=orders[0] if orders else None,
        ticket_id=ticket.id,
    )


async def join_open_ticket(turn: Turn) -> Answer | None:
    """Free text from a customer an agent is talking to on a ticket is their reply to it;
    None when there is no such ticket (the caller answers with help)."""
    ticket = await ticketing.awaiting_customer_reply(turn.session, turn.customer.id)
    if ticket is None or not turn.command.text:
        return await survey_help(turn)
    await ticketing.add_comment(
        turn.session,
        ticket.id,
        turn.principal,
        body=turn.command.text,
        public=True,
        now=turn.now,
    )
    return Answer(turn.say("joined", ticket=ticket.number), "ticket_reply", ticket_id=ticket.id)


async def survey(turn: Turn) -> Answer | None:
    """A bare 1-5 (or "<ticket number> <score>") scores a resolved ticket; None when there is
    none awaiting a score."""
    cmd = turn.command
    body = f"{cmd.ticket_number} {cmd.score}" if cmd.ticket_number else str(cmd.score)
    reply = await ticketing.handle_sms_reply(turn.session, turn.phone, body, now=turn.now)
    if reply.score is None:
        return await survey_help(turn)
    return Answer(reply.message, "scored", ticket_id=reply.ticket_id)


async def survey_help(turn: Turn) -> Answer | None:
    """While a resolved ticket awaits the customer's score, a text we cannot read most likely
    answers the survey: its own help says how. None otherwise (the general help)."""
    if await ticketing.awaiting_score(turn.session, turn.customer.id) is None:
        return None
    reply = await ticketing.handle_sms_reply(turn.session, turn.phone, "", now=turn.now)
    return Answer(reply.message, "survey_help")
