"""Languages of the pages: Babel catalogues (web/locale), money and times per locale.

Agents and customers pick zh or en; the choice is remembered in a long-lived cookie (it
outlives a sign-out, like a browser's own language) and defaults to Accept-Language.
Catalogues are compiled (.mo) and committed, so a fresh clone renders both languages without
a build step; `scripts/i18n.sh` re-extracts and recompiles after a template changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache, lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_time
from babel.numbers import format_currency, get_currency_precision

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("zh", "en")
DEFAULT = "zh"
LANG_COOKIE = "hotline_lang"
# Babel locales used for numbers and dates (zh alone has no territory, so no currency style).
_BABEL = {"zh": "zh_Hans_CN", "en": "en_GB"}


@cache
def translations(lang: str) -> NullTranslations:
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.mo"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as f:
        return GNUTranslations(f)


@cache
def _locale(lang: str) -> Locale:
    return Locale.parse(_BABEL[lang])


def pick(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's choice, else the first of Accept-Language we speak, else Chinese."""
    if cookie in LANGUAGES:
        return str(cookie)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return DEFAULT


@dataclass(frozen=True)
class Formats:
    """Everything a template needs to speak one language in the business time zone."""

    lang: str
    zone: ZoneInfo

    @property
    def babel(self) -> Locale:
        return _locale(self.lang)

    def gettext(self, message: str) -> str:
        return translations(self.lang).gettext(message)

    def money(self, amount: int, currency: str) -> str:
        """Minor units to `¥765.00` (zh) or `CNY 765.00` (en)."""
        return _money(self.lang, amount, currency)

    def when(self, at: datetime | str | None, style: str = "short") -> str:
        """An aware time (or its ISO text) shown in the business zone (named once, in the
        footer)."""
        if not at:
            return "–"
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        return _when(self.lang, self.zone, at, style)


# Babel formats a figure in ~0.1 ms and parses its locale again each time: a page listing 20
# offers spent a third of its render here (bench/shop.py). Prices and start times repeat from
# request to request, so their text is kept.
@lru_cache(maxsize=8192)
def _money(lang: str, amount: int, currency: str) -> str:
    locale = _locale(lang)
    value = amount / 10 ** get_currency_precision(currency)
    if lang == "en":
        return format_currency(value, currency, format="¤¤\xa0#,##0.00", locale=locale)
    return format_currency(value, currency, locale=locale)


@lru_cache(maxsize=8192)
def _when(lang: str, zone: ZoneInfo, at: datetime, style: str) -> str:
    locale = _locale(lang)
    if style == "time":
        return format_time(at, format="HH:mm", tzinfo=zone, locale=locale)
    return format_datetime(at, format="yyyy-MM-dd HH:mm", tzinfo=zone, locale=locale)
