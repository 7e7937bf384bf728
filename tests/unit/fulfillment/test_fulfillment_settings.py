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
