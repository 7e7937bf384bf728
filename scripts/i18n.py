"""Extract the pages' messages and update and compile the zh and en catalogues (web/locale).

    uv run python scripts/i18n.py           # extract, merge into the .po files, compile .mo
    uv run python scripts/i18n.py --check   # the committed .mo files match the .po files

Both .po and .mo are committed, so a fresh clone serves both languages with no build step.
English msgids are the English text; code words (statuses, kinds) get English labels too.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
LOCALE = ROOT / "web" / "locale"
POT = LOCALE / "messages.pot"
LANGUAGES = ("zh", "en")


def _po(lang: str) -> Path:
    return LOCALE / lang / "LC_MESSAGES" / "messages.po"


def _mo_bytes(po: Path) -> bytes:
    with po.open("rb") as f:
        catalog = read_po(f)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def update() -> None:
    pybabel = [sys.executable, "-m", "babel.messages.frontend"]
    subprocess.run(  # noqa: S603 - fixed arguments
        [
            *pybabel,
            "extract",
            "-F",
            "web/babel.cfg",
            "-k",
            "_",
            "-k",
            "N_",
            "--no-location",
            "--omit-header",
            "--sort-output",
            "-o",
            str(POT),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    for lang in LANGUAGES:
        action = "update" if _po(lang).exists() else "init"
        subprocess.run(  # noqa: S603 - fixed arguments
            [*pybabel, action, "-i", str(POT), "-d", str(LOCALE), "-l", lang, "--no-wrap"],
            cwd=ROOT,
            check=True,
        )
    compile_all()


def compile_all() -> None:
    for lang in LANGUAGES:
        (_po(lang).with_suffix(".mo")).write_bytes(_mo_bytes(_po(lang)))


def check() -> int:
    stale = [
        lang
        for lang in LANGUAGES
        if _po(lang).with_suffix(".mo").read_bytes() != _mo_bytes(_po(lang))
    ]
    for lang in stale:
        print(f"web/locale/{lang}: messages.mo is not compiled from messages.po", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--compile", action="store_true", help="only compile .po -> .mo")
    args = parser.parse_args()
    if args.check:
        sys.exit(check())
    if args.compile:
        compile_all()
    else:
        update()
