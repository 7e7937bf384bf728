"""The pages' pure parts: languages and formats, the compiled catalogues, which channels
hear of an outbox fact, and the vendored assets' pins."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po

import commerce
import ticketing
from core.settings import load_settings
from web.i18n import LOCALE_DIR, Formats, pick, translations
from web.live import notices
from web.pages import environment
from web.replies import safe_next

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_money_is_formatted_for_the_locale() -> None:
    assert Formats("zh", SHANGHAI).money(76500, "CNY") == "¥765.00"
    assert Formats("en", SHANGHAI).money(76500, "CNY") == "CNY\xa0765.00"
    assert Formats("en", SHANGHAI).money(123456789, "CNY") == "CNY\xa01,234,567.89"


def test_times_are_shown_in_the_business_zone() -> None:
    at = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)
    assert Formats("en", SHANGHAI).when(at) == "2026-12-02 12:30"
    assert Formats("zh", SHANGHAI).when(at.isoformat(), "time") == "12:30"
    assert Formats("zh", SHANGHAI).when(None) == "–"


def test_the_row_filters_say_what_the_calls_say() -> None:
    """`word`, `when`, `money` and `iso` (web.pages: the offer cards' cheaper spelling)."""
    template = environment().from_string(
        "{{ k|word }}|{{ at|when }}|{{ at|when('time') }}|{{ a|money(c) }}|{{ at|iso }}"
    )
    calls = "{}|{}|{}|{}|{}"
    at = datetime(2026, 12, 2, 4, 30, tzinfo=UTC)
    for lang in ("zh", "en"):
        fmt = Formats(lang, SHANGHAI)
        shown = template.render(fmt=fmt, k="event", at=at, a=76500, c="CNY")
        assert shown == calls.format(
            fmt.gettext("event"), fmt.when(at), fmt.when(at, "time"), fmt.money(76500, "CNY"),
            at.isoformat(),
        )  # fmt: skip


def test_the_language_is_the_cookie_then_accept_language_then_chinese() -> None:
    assert pick("en", "zh-CN") == "en"
    assert pick(None, "en-GB,en;q=0.9") == "en"
    assert pick("fr", "fr-FR, de") == "zh"


def test_every_message_has_a_chinese_translation_and_the_mo_files_are_compiled() -> None:
    with (LOCALE_DIR / "zh" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f)
    missing = [m.id for m in catalog if m.id and not m.string]
    assert missing == []
    assert translations("zh").gettext("Sign in") == "登录"
    assert translations("en").gettext("carrier_billing") == "Phone account"
    check = subprocess.run(
        [sys.executable, "scripts/i18n.py", "--check"], cwd=ROOT, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stderr


def test_outbox_facts_reach_the_order_the_agents_and_the_wallboard() -> None:
    s = load_settings(environ={}, env="test", redis_prefix="t1")
    paid = notices(s, commerce.TOPIC_ORDER_PAID, {"order_id": "o1"})
    assert list(paid.values()) == [["t1:live:order:o1", "t1:live:wallboard"]]
    escalated = notices(
        s, ticketing.TOPIC_TICKET_ESCALATED, {"ticket_id": "t", "level": "breach", "notify": ["a"]}
    )
    ((body, channels),) = escalated.items()
    assert channels == ["t1:live:agent:a", "t1:live:wallboard"]
    assert json.loads(body)["notify"] == ["a"]
    assert notices(s, "sms.send", {"to": "+86"}) == {}


def test_sign_in_only_sends_people_back_into_the_console() -> None:
    assert safe_next("/console/tickets?view=all") == "/console/tickets?view=all"
    for bad in ("https://evil.example/", "//evil.example", "/v1/orders", None, "/console\\x"):
        assert safe_next(bad) in ("/console/",)


def test_htmx_is_pinned_to_2_and_vendored_with_checksums() -> None:
    manifest = json.loads((ROOT / "api" / "static" / "vendor" / "MANIFEST.json").read_text())
    assert manifest["htmx"]["version"].startswith("2.")
    assert manifest["htmx-ext-sse"]["package"] == "htmx-ext-sse"
    check = subprocess.run(
        [sys.executable, "scripts/vendor_assets.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
