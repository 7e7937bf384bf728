from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fulfillment.domain import (
    Outcome,
    RetryPolicy,
    ShipmentStatus,
    callback_outcome,
    can_move,
    classify,
    eticket_text,
    parse_retry_after,
    sign,
    verify_signature,
)
from fulfillment.partners import HttpPartnerClient, canonical_body
from tests.partner_server import Behaviour, PartnerServer

S = ShipmentStatus
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "to", "ok"),
    [
        (S.PENDING, S.DISPATCHED, True),
        (S.DISPATCHED, S.DELIVERED, True),  # skipping in_transit is fine
        (S.IN_TRANSIT, S.DISPATCHED, False),  # backwards
        (S.DELIVERED, S.IN_TRANSIT, False),
        (S.DELIVERED, S.RETURNED, True),
        (S.DELIVERED, S.FAILED, False),
        (S.PENDING, S.RETURNED, False),
        (S.FAILED, S.DELIVERED, False),  # terminal
        (S.RETURNED, S.DELIVERED, False),
        (S.IN_TRANSIT, S.IN_TRANSIT, False),
    ],
)
def test_shipment_moves_only_forward(current: S, to: S, ok: bool) -> None:
    assert can_move(current, to) is ok


def test_callback_older_than_last_applied_update_is_stale() -> None:
    assert callback_outcome(S.IN_TRANSIT, S.DELIVERED, T0, T0 + timedelta(minutes=1)) == "stale"
    assert callback_outcome(S.IN_TRANSIT, S.DELIVERED, T0, T0) == "applied"
    assert callback_outcome(S.DELIVERED, S.IN_TRANSIT, T0, None) == "ignored"


def test_backoff_grows_is_jittered_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_seconds=2, cap_seconds=60)
    rng = random.Random(7)
    delays = [policy.delay(n, None, rng) for n in range(1, 10)]
    assert 1 <= delays[0] <= 2
    assert 4 <= delays[2] <= 8
    assert all(d <= 60 for d in delays)
    assert len({round(policy.delay(3, None, rng), 6) for _ in range(20)}) > 1  # jitter
    assert policy.delay(1, 30, rng) >= 30  # Retry-After is a floor
    assert policy.delay(1, 10_000, rng) == 60  # but never beyond the cap


def test_classification_of_partner_answers() -> None:
    assert classify(None) is Outcome.RETRY
    assert classify(503) is Outcome.RETRY
    assert classify(429) is Outcome.RETRY
    assert classify(201) is Outcome.ACCEPTED
    assert classify(422) is Outcome.PERMANENT
    assert classify(400) is Outcome.PERMANENT
    assert parse_retry_after("12") == 12
    assert parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT") is None


def test_signature_round_trip_and_refusals() -> None:
    body = b'{"a":1}'
    header = sign("s3cret-s3cret-s3cret", body, 1_000)
    assert verify_signature("s3cret-s3cret-s3cret", body, header, 1_100) is None
    assert verify_signature("s3cret-s3cret-s3cret", body + b" ", header, 1_100) == (
        "signature mismatch"
    )
    assert verify_signature("other", body, header, 1_100) == "signature mismatch"
    assert verify_signature("s3cret-s3cret-s3cret", body, header, 2_000) == (
        "timestamp outside tolerance"
    )
    assert verify_signature("s3cret-s3cret-s3cret", body, "garbage", 1_000) == (
        "malformed signature"
    )
    assert verify_signature("s3cret-s3cret-s3cret", body, None, 1_000) == "missing signature"


def test_eticket_text_in_customer_language() -> None:
    request = {"order_number": "HL-1", "items": [{"codes": ["A1", "B2"]}]}
    assert "A1, B2" in eticket_text(request, "en")
    assert "电子票码" in eticket_text(request, "zh") and "A1" in eticket_text(request, "zh")


async def test_http_client_sends_signed_canonical_body_with_idempotency_key() -> None:
    partner = PartnerServer(secret="k" * 20).start()
    try:
        client = HttpPartnerClient(timeout_seconds=5)
        body = {"b": 2, "a": "配送"}
        now = int(time.time())
        result = await client.dispatch(partner.url, partner.secret, "ship1", body, now)
        # a second call reuses the kept-alive connection and is just as good
        again = await client.dispatch(partner.url, partner.secret, "ship2", body, now)
        await client.aclose()
    finally:
        partner.stop()
    assert result.status_code == 200 and result.tracking_number == "TN-ship1"
    assert again.status_code == 200 and again.tracking_number == "TN-ship2"
    sent = partner.received[0]
    assert sent.key == "ship1" and sent.signature_ok
    assert sent.body == canonical_body(body)
    assert json.loads(sent.body) == body


async def test_http_client_reports_timeouts_and_retry_after() -> None:
    slow = PartnerServer(secret="k" * 20, behaviour=Behaviour(delay_seconds=1.0)).start()
    busy = PartnerServer(
        secret="k" * 20, behaviour=Behaviour(fail_first=1, fail_status=429, retry_after="7")
    ).start()
    refused = PartnerServer(secret="k" * 20).start()
    gone = refused.url
    refused.stop()
    client = HttpPartnerClient(timeout_seconds=0.2)
    try:
        late = await client.dispatch(slow.url, slow.secret, "s", {}, int(time.time()))
        later = await client.dispatch(busy.url, busy.secret, "s", {}, int(time.time()))
        nobody = await client.dispatch(gone, "k" * 20, "s", {}, int(time.time()))
        await client.aclose()
    finally:
        slow.stop()
        busy.stop()
    assert late.status_code is None and "Timeout" in (late.error or "")
    assert later.status_code == 429 and later.retry_after == 7
    assert later.error == "HTTP 429" and later.tracking_number is None
    assert nobody.status_code is None and nobody.error


_UPDATES = st.lists(
    st.tuples(st.sampled_from(sorted(S, key=str)), st.integers(min_value=0, max_value=50)),
    max_size=12,
)


@given(_UPDATES)
def test_any_sequence_of_callbacks_never_leaves_a_terminal_state_or_goes_back(
    updates: list[tuple[S, int]],
) -> None:
    current, last = S.PENDING, None
    for to, minute in updates:
        at = T0 + timedelta(minutes=minute)
        if callback_outcome(current, to, at, last) == "applied":
            assert current not in (S.FAILED, S.RETURNED)
            assert to != current
            if to not in (S.FAILED, S.RETURNED):
                order = [S.PENDING, S.DISPATCHED, S.IN_TRANSIT, S.DELIVERED]
                assert order.index(to) > order.index(current)
            current, last = to, at
