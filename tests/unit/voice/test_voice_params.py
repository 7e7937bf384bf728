"""The voice form's fields as a keypad and a provider send them (api/voice_params.py)."""

from __future__ import annotations

import pytest

from api import voice_params


@pytest.mark.parametrize("digits", ["1", "274915", "274915#", "*", "0#", " 12 ", "9" * 16])
def test_a_keypad_s_keys_pass(digits: str) -> None:
    assert voice_params.keys({"Digits": digits}, "CA1", "pin") == digits.strip()


@pytest.mark.parametrize(
    "digits",
    [
        "abcdef",
        "２７４９１５",  # full-width: str.isdigit() says yes
        "²",  # superscript: isdigit() yes, int() no
        "٢٧٤٩١٥",  # Arabic-Indic
        "27 4915",
        "27\x1b[31m",
        "9" * 17,
        "5" * 5000,
    ],
)
def test_what_no_keypad_sends_is_no_input(digits: str) -> None:
    assert voice_params.keys({"Digits": digits}, "CA1", "pin") == ""
