"""HOTLINE_DISPATCH_* are validated like every other setting: a malformed or non-positive value
stops the process with a message naming the variable (not a traceback at the first job)."""

from __future__ import annotations

import pytest

from api.worker import policy_from_env
from core.settings import SettingsError


def test_redeliver_seconds_is_read_and_checked() -> None:
    assert policy_from_env({"HOTLINE_DISPATCH_REDELIVER_SECONDS": "20"}).redeliver_seconds == 20
    assert policy_from_env({}).redeliver_seconds == 45
    for bad in ("soon", "0", "-5", "nan", "inf", ""):
        with pytest.raises(SettingsError, match="HOTLINE_DISPATCH_REDELIVER_SECONDS"):
            policy_from_env({"HOTLINE_DISPATCH_REDELIVER_SECONDS": bad})


def test_whole_number_knobs_refuse_fractions() -> None:
    assert policy_from_env({"HOTLINE_DISPATCH_MAX_REDELIVERIES": "5"}).max_redeliveries == 5
    with pytest.raises(SettingsError, match="HOTLINE_DISPATCH_MAX_REDELIVERIES"):
        policy_from_env({"HOTLINE_DISPATCH_MAX_REDELIVERIES": "2.5"})


def test_a_lease_must_outlast_the_partner_timeout() -> None:
    """Found in the acceptance run: with a lease of 10 s and a timeout of 40 s a partner
    answering in 25 s was called a second time while the first call was still running."""
    ok = policy_from_env(
        {"HOTLINE_DISPATCH_LEASE_SECONDS": "12", "HOTLINE_DISPATCH_TIMEOUT_SECONDS": "10"}
    )
    assert (ok.lease_seconds, ok.timeout_seconds) == (12, 10)
    for env in (
        {"HOTLINE_DISPATCH_LEASE_SECONDS": "10", "HOTLINE_DISPATCH_TIMEOUT_SECONDS": "40"},
        {"HOTLINE_DISPATCH_LEASE_SECONDS": "10"},  # the default timeout is 10
        {"HOTLINE_DISPATCH_TIMEOUT_SECONDS": "30"},  # the default lease is 30
    ):
        with pytest.raises(SettingsError, match=r"HOTLINE_DISPATCH_LEASE_SECONDS .* longer than"):
            policy_from_env(env)
