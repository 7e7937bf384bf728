"""Pure commerce rules: lifecycle, pricing, order lines, readable numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commerce.domain import (
    MAX_QUANTITY,
    READABLE_ALPHABET,
    TRANSITIONS,
    DeliveryMethod,
    LineRequest,
    OrderStatus,
    PricedLine,
    can_transition,
    check_delivery,
    check_offer_code,
    check_transition,
    new_order_number,
    normalise_lines,
    price_order,
    releases_capacity,
)
from core.errors import InvalidTransition, ValidationFailed
from core.money import Money

S = OrderStatus


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (S.AWAITING_PAYMENT, S.PAID),
        (S.PAID, S.FULFILLING),
        (S.FULFILLING, S.FULFILLED),
        (S.AWAITING_PAYMENT, S.EXPIRED),
        (S.AWAITING_PAYMENT, S.CANCELLED),
        (S.PAID, S.CANCELLED),
        (S.FULFILLING, S.CANCELLED),
        (S.FULFILLED, S.REFUNDED),
        (S.EXPIRED, S.PAID),
    ],
)
def test_lifecycle_allows_the_documented_moves(current: S, to: S) -> None:
    check_transition(current, to)


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (S.AWAITING_PAYMENT, S.FULFILLED),
        (S.PAID, S.EXPIRED),
        (S.FULFILLED, S.CANCELLED),
        (S.CANCELLED, S.PAID),
        (S.EXPIRED, S.CANCELLED),
        (S.REFUNDED, S.PAID),
        (S.PAID, S.AWAITING_PAYMENT),
    ],
)
def test_lifecycle_refuses_other_moves_with_invalid_transition(current: S, to: S) -> None:
    with pytest.raises(InvalidTransition) as err:
        check_transition(current, to)
    assert err.value.slug == "invalid-transition" and err.value.status == 409


def test_cancelled_is_terminal_and_every_state_has_rules() -> None:
    assert set(TRANSITIONS) == set(S)
    assert not any(can_transition(S.CANCELLED, to) for to in S)


def test_capacity_goes_back_only_when_a_held_order_ends() -> None:
    assert releases_capacity(S.AWAITING_PAYMENT, S.EXPIRED)
    assert releases_capacity(S.AWAITING_PAYMENT, S.CANCELLED)
    assert releases_capacity(S.PAID, S.CANCELLED)
    assert not releases_capacity(S.EXPIRED, S.PAID)
    assert not releases_capacity(S.FULFILLED, S.REFUNDED)


def test_price_adds_booking_fee_once_and_courier_fee() -> None:
    lines = [PricedLine("a", 2, Money(68000, "CNY")), PricedLine("b", 1, Money(55300, "CNY"))]
    p = price_order(
        lines, method=DeliveryMethod.COURIER, booking_fee=500, courier_fee=1500, currency="CNY"
    )
    assert p.subtotal == Money(191300, "CNY")
    assert p.booking_fee == Money(500, "CNY") and p.delivery_fee == Money(1500, "CNY")
    assert p.total == Money(193300, "CNY")
    e = price_order(
        lines, method=DeliveryMethod.E_TICKET, booking_fee=500, courier_fee=1500, currency="CNY"
    )
    assert e.delivery_fee == Money(0, "CNY") and e.total == Money(191800, "CNY")
    paid_e = price_order(
        lines,
        method=DeliveryMethod.E_TICKET,
        booking_fee=500,
        courier_fee=1500,
        currency="CNY",
        eticket_fee=200,
    )
    assert paid_e.delivery_fee == Money(200, "CNY") and paid_e.total == Money(192000, "CNY")


def test_mixed_currencies_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        price_order(
            [PricedLine("a", 1, Money(100, "USD"))],
            method=DeliveryMethod.E_TICKET,
            booking_fee=0,
            courier_fee=0,
            currency="CNY",
        )


@given(
    st.lists(
        st.tuples(st.integers(0, 10**5), st.integers(1, MAX_QUANTITY)), min_size=1, max_size=20
    ),
    st.integers(0, 10**5),
    st.integers(0, 10**5),
    st.sampled_from(list(DeliveryMethod)),
)
def test_totals_always_add_up(
    lines: list[tuple[int, int]], fee: int, courier: int, method: DeliveryMethod
) -> None:
    priced = [PricedLine(str(i), q, Money(u, "CNY")) for i, (u, q) in enumerate(lines)]
    p = price_order(priced, method=method, booking_fee=fee, courier_fee=courier, currency="CNY")
    assert p.subtotal.amount == sum(u * q for u, q in lines)
    assert p.total.amount == p.subtotal.amount + fee + (courier if method == "courier" else 0)
    assert type(p.total.amount) is int


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, 10**12, 2.0, True])
def test_bad_quantities_are_validation_errors(quantity: object) -> None:
    with pytest.raises(ValidationFailed) as err:
        normalise_lines([LineRequest("a", quantity)])  # type: ignore[arg-type]
    assert err.value.errors and err.value.errors[0]["field"] == "items[0].quantity"


def test_lines_merge_and_sort_by_offer_so_locks_have_one_order() -> None:
    out = normalise_lines([LineRequest("z", 1), LineRequest("a", 2), LineRequest("z", 3)])
    assert out == [LineRequest("a", 2), LineRequest("z", 4)]
    with pytest.raises(ValidationFailed):
        normalise_lines([])
    with pytest.raises(ValidationFailed):
        normalise_lines([LineRequest("a", MAX_QUANTITY), LineRequest("a", 1)])


def test_courier_needs_an_address() -> None:
    assert check_delivery("e_ticket", None) == (DeliveryMethod.E_TICKET, None)
    with pytest.raises(ValidationFailed):
        check_delivery("courier", "  ")
    with pytest.raises(ValidationFailed):
        check_delivery("pigeon", None)


def test_order_numbers_are_readable_aloud() -> None:
    numbers = {new_order_number() for _ in range(2000)}
    assert len(numbers) == 2000
    for n in numbers:
        assert len(n) == 8 and set(n) <= set(READABLE_ALPHABET)
    assert not set("01OIL") & set(READABLE_ALPHABET)
    # every character is used in every position (the draw is spread over the whole space)
    for position in range(8):
        assert {n[position] for n in numbers} == set(READABLE_ALPHABET)


def test_offer_codes_are_short_and_upper_case() -> None:
    assert check_offer_code(" mu5101 ") == "MU5101"
    for bad in ["", "x", "A" * 17, "G 1", "周杰伦"]:
        with pytest.raises(ValidationFailed):
            check_offer_code(bad)
