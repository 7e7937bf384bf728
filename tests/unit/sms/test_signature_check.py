"""The inbound routes' signature check (one HMAC when the first URL form matches) must accept
and refuse exactly what twilio's RequestValidator.validate accepts and refuses."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
)

from api.controllers.sms import check_signature
from core.errors import Forbidden

TOKEN = "12345678901234567890123456789012"
PATH = "/v1/webhooks/sms"
PARAMS = {
    "From": "+8613800138000",
    "To": "+8610086",
    "Body": "状态 ＳＴＡＴＵＳ",
    "MessageSid": "SM1",
}


def _accepted(public: str, signature: str, settings_header: str | None) -> bool:
    headers = {SIGNATURE_HEADER: signature}
    if settings_header is not None:
        headers[SIGNATURE_SETTINGS_HEADER] = settings_header
    runtime: Any = SimpleNamespace(
        settings=SimpleNamespace(twilio_auth_token=TOKEN, public_base_url=public)
    )
    request: Any = SimpleNamespace(url=SimpleNamespace(path=PATH, query=""), headers=headers)
    try:
        check_signature(runtime, request, PARAMS)
    except Forbidden:
        return False
    return True


@pytest.mark.parametrize("public", ["https://h.example.com", "https://h.example.com:443"])
@pytest.mark.parametrize("signed", ["https://h.example.com", "https://h.example.com:443",
                                    "https://other.example.com"])  # fmt: skip
@pytest.mark.parametrize("algorithm", [None, "HMAC_SHA1", "HMAC_SHA256"])
@pytest.mark.parametrize("header", [None, "algorithm=HMAC_SHA256", "algorithm=HMAC_MD5"])
def test_accepts_what_the_validator_accepts(
    public: str, signed: str, algorithm: str | None, header: str | None
) -> None:
    validator = RequestValidator(TOKEN)
    signature = validator.compute_signature(signed + PATH, PARAMS, algorithm)
    named = header.split("=")[1] if header else None
    expected = validator.validate(public + PATH, PARAMS, signature, named)
    assert _accepted(public, signature, header) is expected
    assert not _accepted(public, signature[:-2] + "xx", header)
