"""Demo seed for the commerce room: a realistic catalog (idempotent, keyed by offer code)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

import commerce
from core.money import Money
from core.runtime import Runtime

# (code, kind, title, venue or route, days from today, local time, price in fen, capacity)
CATALOG = [
    (
        "JAY2026",
        "event",
        "周杰伦「嘉年华」世界巡回演唱会",
        "上海体育场",
        30,
        time(19, 30),
        128000,
        500,
    ),
    (
        "MAYDAY",
        "event",
        "五月天 好好好想见到你 演唱会",
        "北京国家体育场（鸟巢）",
        45,
        time(19, 0),
        85500,
        800,
    ),
    ("NCPA-SWAN", "event", "芭蕾舞剧《天鹅湖》", "国家大剧院 歌剧院", 12, time(19, 30), 38000, 120),
    ("G1", "train", "G1 北京南 → 上海虹桥 二等座", "北京南 -> 上海虹桥", 3, time(7, 0), 66200, 300),
    ("G7", "train", "G7 北京南 → 上海虹桥 一等座", "北京南 -> 上海虹桥", 3, time(9, 0), 106000, 80),
    ("D3101", "train", "D3101 上海虹桥 → 杭州东", "上海虹桥 -> 杭州东", 2, time(8, 15), 7300, 400),
    (
        "MU5101",
        "flight",
        "MU5101 上海虹桥 → 北京首都 经济舱",
        "SHA -> PEK",
        5,
        time(8, 0),
        124000,
        150,
    ),
    (
        "CA1831",
        "flight",
        "CA1831 北京首都 → 上海虹桥 经济舱",
        "PEK -> SHA",
        6,
        time(10, 30),
        113000,
        150,
    ),
    ("CZ3539", "flight", "CZ3539 广州白云 → 上海浦东", "CAN -> PVG", 9, time(14, 5), 98000, 160),
    (
        "HYATT-BUND",
        "hotel",
        "上海外滩茂悦大酒店 豪华大床房 1晚",
        "上海市虹口区黄浦路199号",
        10,
        time(14, 0),
        158800,
        40,
    ),
    (
        "JINJ-WLH",
        "hotel",
        "杭州西湖国宾馆 湖景双床房 1晚",
        "杭州市西湖区杨公堤18号",
        14,
        time(14, 0),
        216000,
        20,
    ),
]


async def seed_demo(runtime: Runtime) -> list[str]:
    now = runtime.clock.now()
    zone = runtime.settings.zone
    today = now.astimezone(zone).date()
    created = 0
    async with runtime.sessions() as session, session.begin():
        existing = set(await session.scalars(select(commerce.Offer.code)))
        for code, kind, title, venue, days, at, price, capacity in CATALOG:
            if code in existing:
                continue
            await commerce.create_offer(
                session,
                code=code,
                kind=kind,
                title=title,
                venue=venue,
                starts_at=datetime.combine(today + timedelta(days=days), at, tzinfo=zone),
                price=Money(price, runtime.settings.currency),
                capacity=capacity,
                currency=runtime.settings.currency,
                now=now,
            )
            created += 1
    return [
        f"catalog: {len(CATALOG)} offers ({created} new), "
        "e.g. JAY2026 周杰伦 at 上海体育场, G1, MU5101"
    ]
