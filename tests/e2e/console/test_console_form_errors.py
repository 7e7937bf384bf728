"""A console form's 422 in a real browser, on a Chinese page: the fragment that replaces the
wrap-up form names the field by its label and says why in Chinese (web/words.py), as the
shop's pages do. The screenshot lands in tests/e2e/screenshots/ for review."""

from __future__ import annotations

import random

import pytest
from playwright.sync_api import Browser, expect

import auth
from core.runtime import Runtime
from tests.e2e.console.conftest import Console, new_context, shot, sign_in

pytestmark = pytest.mark.slow


def test_a_wrap_up_note_with_a_control_character_reads_in_chinese(
    browser: Browser, console: Console
) -> None:
    async def make(rt: Runtime) -> str:
        async with rt.sessions() as s, s.begin():
            phone = f"+86137{random.randint(0, 99_999_999):08d}"
            c = await auth.create_customer(rt, s, phone=phone, name="李娜 Li Na", locale="zh")
        return c.id

    customer_id = console.db(make)
    ctx = new_context(browser, "zh")
    page = ctx.new_page()
    sign_in(page, console, console.seeded.agent)
    page.goto(f"{console.url}/console/customers/{customer_id}")
    page.fill("#wrap-up-note", "已订两张\x1b[31m")
    page.click("#wrap-up button[type=submit]")
    error = page.locator("[data-problem=validation-error]")
    expect(error).to_contain_text("通话小结：不能包含控制字符")
    expect(error).not_to_contain_text("note:")
    shot(page, "console-wrap-up-422-zh")
    ctx.close()
