"""Pure rules: refund caps, postings that always balance, payment status moves."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidTransition, ValidationFailed
from payments import domain
from payments.errors import RefundExceedsCaptured

amounts = st.integers(min_value=0, max_value=10**9)


def test_refund_defaults_to_what_is_left() -> None:
    assert domain.refund_amount(1000, 300, None) == 700


def test_refund_over_captured_is_refused() -> None:
    with pytest.raises(RefundExceedsCaptured):
        domain.refund_amount(1000, 300, 701)
    with pytest.raises(RefundExceedsCaptured):
        domain.refund_amount(1000, 1000, None)
    with pytest.raises(ValidationFailed):
        domain.refund_amount(1000, 0, 0)


@given(amounts, amounts, amounts, st.sampled_from(domain.METHODS))
def test_every_posting_set_balances(sub: int, fee: int, deliv: int, method: str) -> None:
    total = sub + fee + deliv
    for postings in (
        domain.sale_postings(sub, fee, deliv),
        domain.capture_postings(method, total),
        domain.refund_postings(method, total),
        domain.dispute_postings(total),
    ):
        assert domain.is_balanced(postings)


def test_final_statuses_never_move() -> None:
    for final in domain.FINAL:
        for target in (domain.PENDING, domain.SUCCEEDED, domain.FAILED, domain.UNKNOWN):
            with pytest.raises(InvalidTransition):
                domain.check_move(final, target)
    domain.check_move(domain.UNKNOWN, domain.SUCCEEDED)


def test_intent_statuses_map() -> None:
    assert domain.status_from_intent("succeeded") == domain.SUCCEEDED
    assert domain.status_from_intent("requires_action") == domain.REQUIRES_ACTION
    assert domain.status_from_intent("requires_payment_method") == domain.FAILED
    assert domain.status_from_intent("canceled") == domain.CANCELED
