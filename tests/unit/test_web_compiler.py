"""The pages' compiler (web.pages._Compiler) calls `_` and `fmt`'s methods directly: every
template compiles with it, and what it renders is what plain Jinja renders, word for word,
in both languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace as Row
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import ticketing
from core.principal import Principal
from web.access import SignedIn
from web.console.caller import Caller, OrderRow, TicketRow
from web.i18n import Formats
from web.pages import environment

SHANGHAI = ZoneInfo("Asia/Shanghai")
AT = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)


def _both(lang: str, source: str | None, name: str | None, **values: Any) -> tuple[str, str]:
    fmt = Formats(lang, SHANGHAI)
    values = {"_": fmt.gettext, "fmt": fmt, "lang": lang, **values}
    out = []
    for direct in (True, False):
        env = environment(auto_reload=False, direct_words=direct)
        template = env.from_string(source) if source else env.get_template(str(name))
        out.append(template.render(**values))
    return out[0], out[1]


def test_every_template_compiles_with_direct_calls() -> None:
    env = environment(auto_reload=False)
    names = env.list_templates(extensions=["html"])
    assert "console/caller.html" in names
    for name in names:
        env.get_template(name)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_words_times_and_money_in_blocks_loops_and_macros(lang: str) -> None:
    source = (
        "{% macro row(x) %}{{ _(x) }} {{ fmt.when(at, style='time') }}{% endmacro %}"
        "{% block main %}{{ _('Phone') }}|{{ _('{n} min left').format(n=3) }}|"
        "{% for k in kinds %}{{ _(k) }} {{ row(k) }} {{ fmt.money(a, c) }};{% endfor %}"
        "{{ fmt.when(at) }}|{{ _('<&>') }}|{{ fmt.lang }}{% endblock %}"
    )
    fast, plain = _both(lang, source, None, kinds=["event", "paid"], at=AT, a=76500, c="CNY")
    assert fast == plain
    fmt = Formats(lang, SHANGHAI)
    assert fmt.gettext("Phone") in fast and fmt.money(76500, "CNY") in fast
    assert "&lt;&amp;&gt;" in fast  # still escaped


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_callers_record_renders_as_plain_jinja_renders_it(lang: str) -> None:
    customer = Row(
        id="c1", name="王小明", phone="+8613800138000", locale="zh", created_at=AT,
        locked=False, pin_hash="x",
    )  # fmt: skip
    order = Row(id="o1", number="HL-1", status="paid", created_at=AT, total=76500, currency="CNY")
    clock = {
        "target_business_seconds": 3600, "running": True, "paused": False,
        "elapsed_business_seconds": 600, "remaining_business_seconds": 3000, "breached_at": None,
    }  # fmt: skip
    ticket = Row(id="t1", number="TK-1", subject="E-ticket <missing>", status="open")
    caller = Caller(
        customer=customer,
        account=Row(balance=10000, credit_limit=5000, currency="CNY"),
        orders=[
            OrderRow(
                order,
                [Row(method="carrier_billing", status="succeeded")],
                [Row(partner_code="ems", status="dispatched", tracking_number="EMS1")],
            )
        ],
        tickets=[TicketRow(ticket, {"sla": {"first_response": clock, "resolution": None}})],
        sms=[
            Row(created_at=AT, purpose="otp", status="sent", body="123456"),
            Row(created_at=AT, purpose="order", status="sent", body="Paid & done"),
        ],
        verified_until=AT + timedelta(minutes=9),
        notes=[Row(created_at=AT, agent_id="a1", body="Called back")],
    )
    me = SignedIn(Principal("agent", "a1", frozenset({"agent"})), "Agent")
    fast, plain = _both(
        lang, None, "console/caller.html", caller=caller, me=me, now=AT, names={"a1": "Agent"},
        zone="Asia/Shanghai", csrf="token", csrf_header="X-CSRF-Token", path="/console/",
        is_htmx=False, live_query="", categories=ticketing.CATEGORIES,
        priorities=ticketing.PRIORITIES, handoff=None, by_keypad=False, on_call=True,
    )  # fmt: skip
    assert fast == plain
    assert "HL-1" in fast and "E-ticket &lt;missing&gt;" in fast
    assert Formats(lang, SHANGHAI).gettext("Phone account") in fast
