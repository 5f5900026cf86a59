from __future__ import annotations

import pytest

from milk_forecast.service.pacing import Pacer
from milk_forecast.service.serving import ApiError


def test_requests_within_the_rate_do_not_wait() -> None:
    now = [0.0]
    pacer = Pacer(rate=10, clock=lambda: now[0])
    for _ in range(5):
        assert pacer.delay() == 0
        now[0] += 0.1


def test_a_burst_waits_for_its_slots_then_is_refused_with_429() -> None:
    pacer = Pacer(rate=10, max_wait=1.0, clock=lambda: 0.0)
    waits = [pacer.delay() for _ in range(11)]
    assert waits == pytest.approx([n / 10 for n in range(11)])
    with pytest.raises(ApiError) as caught:
        pacer.delay()
    assert caught.value.status == 429 and "retry in 1.1 s" in caught.value.message


def test_a_refused_request_takes_no_slot_and_the_budget_comes_back() -> None:
    now = [0.0]
    pacer = Pacer(rate=1, max_wait=0.5, clock=lambda: now[0])
    assert pacer.delay() == 0
    with pytest.raises(ApiError):
        pacer.delay()
    now[0] += 1.0
    assert pacer.delay() == 0


def test_rate_zero_never_waits() -> None:
    pacer = Pacer(rate=0, clock=lambda: 0.0)
    assert [pacer.delay() for _ in range(1000)] == [0.0] * 1000
