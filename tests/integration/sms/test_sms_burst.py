"""A burst of 1,000 texts from 50 numbers against a real server process on PostgreSQL, all
in flight at once (two of each number's texts in flight at a time, as a gateway forwards them):
no error, every text answered, no duplicate order (some MessageSids are sent twice, as a
gateway retries), and each number's texts handled one at a time in the order they arrived.

"Handled in order" is read from PostgreSQL itself: a transaction gets its id (`xmin` of the
rows it writes) at its first write, which the SMS channel makes right after it took the
sender's lock, so per number the ids must ascend in the order of the arrival times stored
with each MessageSid."""

from __future__ import annotations

import asyncio
import collections
import uuid
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner
from sqlalchemy import text as sql

from api import admin_cli  # noqa: F401 (registers the commands)
from api.cli_group import main
from bench.rush import Connection
from core.runtime import Runtime
from core.settings import Settings
from tests.auth_fixtures import make_customer
from tests.integration.commerce.servers import settings_env, uvicorn_servers
from tests.integration.sms.channel import HOTLINE, PATH, make_offer, reply_of, sign
from tests.integration.sms.conftest import PUBLIC
from tests.twilio_server import TwilioServer

NUMBERS, PER_NUMBER = 50, 20
BOOK_AT = (3, 11)  # which of a number's texts book (one seat each); the rest STATUS or HELP
RETRIED_AT = (11, 15)  # sent a second time with the same MessageSid
LINES = 2  # connections per number: its texts are in flight two at a time


@pytest.mark.slow
async def test_a_burst_of_1000_texts_from_50_numbers(
    sms_settings: Settings, sms_rt: Runtime, twilio: TwilioServer
) -> None:
    offer = await make_offer(sms_rt, capacity=NUMBERS * len(BOOK_AT) + 10, price=1000)
    people = [await make_customer(sms_rt, locale="en") for _ in range(NUMBERS)]
    env = {
        "HOTLINE_TWILIO_AUTH_TOKEN": twilio.auth_token,
        "HOTLINE_PUBLIC_BASE_URL": PUBLIC,
        "HOTLINE_SMS_REPLIES_PER_HOUR": str(PER_NUMBER + 5),
    }
    token = twilio.auth_token
    run = uuid.uuid4().hex[:8]

    def body(k: int) -> str:
        if k in BOOK_AT:
            return f"BOOK {offer.code} 1"
        return "STATUS" if k % 2 else "HELP"

    with uvicorn_servers(sms_settings, count=1, extra_env=env) as [url]:

        async def line(phone: str, ks: list[int]) -> list[tuple[int, str]]:
            """One keep-alive connection sending these texts one after the other (bench/rush.py's
            minimal client: httpx would spend more CPU than the server on two cores)."""
            conn, got = Connection(url), []
            try:
                for k in ks:
                    params = {
                        "From": phone,
                        "To": HOTLINE,
                        "Body": body(k),
                        "MessageSid": f"SM{run}{phone[-8:]}{k:03d}",
                    }
                    headers = {
                        "Content-Type": "application/x-www-form-urlencoded",
                        **sign(token, PUBLIC, PATH, params),
                    }
                    status, data = await conn.request(
                        "POST", PATH, headers, urlencode(params).encode()
                    )
                    got.append((status, data.decode()))
            finally:
                conn.close()
            return got

        # Each number's texts over LINES connections at once, so they arrive concurrently;
        # the retried MessageSids go last on every line.
        jobs = [
            line(p.phone, [*range(j, PER_NUMBER, LINES), *RETRIED_AT[j::LINES]])
            for p in people
            for j in range(LINES)
        ]
        answers = [a for got in await asyncio.gather(*jobs) for a in got]

        # `hotline sms-send` against the live server: a Twilio-signed post, the reply printed.
        cli_env = {
            **settings_env(sms_settings),
            **env,
            "HOTLINE_TWILIO_FROM": HOTLINE,
        }
        result = CliRunner().invoke(
            main, ["sms-send", "--from", people[0].phone, "--url", url, "STATUS"], env=cli_env
        )
        assert result.exit_code == 0, result.output
        assert (
            result.output.strip().splitlines()[-1].endswith(" awaiting payment 15")
        )  # 10 + booking fee 5

    assert len(answers) == NUMBERS * (PER_NUMBER + len(RETRIED_AT))
    assert collections.Counter(status for status, _ in answers) == {200: len(answers)}
    assert all(reply_of(text) for _, text in answers), "every text is answered"

    ids = [p.id for p in people]
    phones = [p.phone for p in people]
    async with sms_rt.sessions() as s:
        orders = dict(
            (
                await s.execute(
                    sql(
                        "SELECT customer_id, count(*) FROM orders WHERE customer_id = ANY(:ids)"
                        " GROUP BY customer_id"
                    ),
                    {"ids": ids},
                )
            ).all()
        )
        assert orders == dict.fromkeys(ids, len(BOOK_AT)), "one order per BOOK text, no more"
        rows = (
            await s.execute(
                sql(
                    "SELECT from_phone, message_sid, received_at, xmin::text::bigint AS tx"
                    " FROM sms_inbound WHERE from_phone = ANY(:phones) AND message_sid LIKE :run"
                ),
                {"phones": phones, "run": f"SM{run}%"},
            )
        ).all()
        stored = (
            await s.execute(
                sql(
                    "SELECT count(*) FROM sms_messages WHERE from_phone = ANY(:phones)"
                    " AND direction = 'in' AND provider_message_id LIKE :run"
                ),
                {"phones": phones, "run": f"SM{run}%"},
            )
        ).scalar_one()
    assert len(rows) == NUMBERS * PER_NUMBER and stored == NUMBERS * PER_NUMBER
    by_phone: dict[str, list[tuple[object, int]]] = collections.defaultdict(list)
    for phone, _sid, received_at, tx in rows:
        by_phone[phone].append((received_at, tx))
    for phone, handled in by_phone.items():
        in_arrival_order = [tx for _, tx in sorted(handled)]
        assert in_arrival_order == sorted(in_arrival_order), f"{phone} handled out of order"
