"""The voice form's fields as a keypad and a provider send them (api/voice_params.py)."""

from __future__ import annotations

import pytest

from api import voice_params
from core.errors import ValidationFailed


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


@pytest.mark.parametrize(
    "sid", ["CA" + "0123456789abcdef" * 2, "3f1c2a9e-8d7b-4c1e-9f00-2b6d7e8a1c55", "x_1", "C" * 64]
)
def test_a_provider_s_call_sid_passes(sid: str) -> None:
    assert voice_params.call_sid({"CallSid": sid}) == sid


@pytest.mark.parametrize(
    "sid", ["", "CA\x1b[31m", "CA 1", "CAé1", "CA/../x", "CA\u200b1", "C" * 65, "ＣＡ1"]
)
def test_another_call_sid_is_422_naming_it(sid: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        voice_params.call_sid({"CallSid": sid})
    assert refused.value.errors[0]["field"] == "CallSid"
