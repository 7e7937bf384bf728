"""The house rule import-linter cannot say (its contracts live in pyproject.toml and run in
`make test`): no `_private` name is imported from another module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "auth", "commerce", "payments", "fulfillment", "ticketing", "api", "web")


def private_imports(source: str) -> list[tuple[int, str]]:
    """(line, dotted name) of each `from <our module> import _name`, relative ones included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        if not node.level and (node.module or "").split(".")[0] not in PACKAGES:
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append((node.lineno, f"{'.' * node.level}{node.module or ''}.{alias.name}"))
    return found


def test_no_private_name_is_imported_from_another_module() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}"
        for pkg in PACKAGES
        if (ROOT / pkg).is_dir()
        for path in sorted((ROOT / pkg).rglob("*.py"))
        for line, name in private_imports(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_rule_sees_a_private_import_and_ignores_public_and_foreign_ones() -> None:
    source = (
        "from payments.service import _gateway, settle\n"
        "from core import clock\n"
        "from os import _exit\n"
        "from .service import _lock\n"
    )
    assert private_imports(source) == [(1, "payments.service._gateway"), (4, ".service._lock")]
