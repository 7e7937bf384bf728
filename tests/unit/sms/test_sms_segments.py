"""Segment counting: GSM-7 160/153 (extension characters count two), UCS-2 70/67."""

from __future__ import annotations

import pytest

from core.sms_text import encoding, is_gsm7, segments, septets, single_segment_room


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("a", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets: each extension character is an escape plus itself
        ("€" * 81, 2),
        ("a" * 159 + "[", 2),  # 161 septets
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ", 1),
        ("中" * 70, 1),
        ("中" * 71, 2),
        ("中" * 134, 2),
        ("中" * 135, 3),
        ("a" * 69 + "中", 1),  # one non-GSM character makes the whole text UCS-2
        ("a" * 70 + "中", 2),
        ("😀" * 35, 1),  # a surrogate pair is two UTF-16 units
        ("😀" * 36, 2),
        ("，", 1),
    ],
)
def test_segments(text: str, expected: int) -> None:
    assert segments(text) == expected


def test_encoding_and_room() -> None:
    assert is_gsm7("Hello {world}") and encoding("Hello") == "GSM-7"
    assert septets("{}") == 4
    assert encoding("Hello ç") == "UCS-2"  # ç (lower case) is not in GSM-7, Ç is
    assert not is_gsm7("订票")
    assert single_segment_room("a" * 150) == 10
    assert single_segment_room("中" * 75) == -5
