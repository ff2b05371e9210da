"""common/retry.py: backoff with equal jitter, driven by a chosen random()."""

import pytest

from common.retry import RETRY_STATUSES, backoff


def fixed(value):
    return lambda: value


@pytest.mark.parametrize(("attempt", "low", "high"), [
    (1, 0.5, 1.0),
    (2, 1.0, 2.0),
    (3, 2.0, 4.0),
    (4, 4.0, 8.0),
    (7, 30.0, 60.0),      # 64 s, capped at 60
    (50, 30.0, 60.0),
])
def test_the_delay_doubles_up_to_the_cap_and_jitters_in_its_upper_half(attempt, low, high):
    assert backoff(attempt, base=1, cap=60, random=fixed(0.0)) == low
    assert backoff(attempt, base=1, cap=60, random=fixed(0.5)) == (low + high) / 2
    assert backoff(attempt, base=1, cap=60, random=fixed(0.999999)) == pytest.approx(high)


def test_jitter_spreads_workers_that_failed_together():
    draws = iter([0.1, 0.4, 0.9])
    delays = [backoff(3, base=0.5, cap=60, random=lambda: next(draws)) for _ in range(3)]
    assert delays == pytest.approx([1.1, 1.4, 1.9])


def test_retry_after_is_a_floor():
    assert backoff(1, base=1, cap=60, retry_after=30, random=fixed(0.5)) == 30
    assert backoff(6, base=1, cap=60, retry_after=3, random=fixed(0.5)) == 24
    assert backoff(1, base=1, cap=60, retry_after=0.0, random=fixed(0.0)) == 0.5


def test_a_zero_base_retries_at_once_unless_told_otherwise():
    assert backoff(5, base=0, cap=60, random=fixed(0.7)) == 0
    assert backoff(5, base=0, cap=60, retry_after=2, random=fixed(0.7)) == 2


def test_the_default_random_stays_in_range():
    assert all(4.0 <= backoff(4, base=1, cap=60) <= 8.0 for _ in range(200))


def test_retry_statuses():
    assert RETRY_STATUSES == {408, 429, 500, 502, 503, 504, 522, 524}
    assert not RETRY_STATUSES & {200, 301, 400, 401, 403, 404, 410, 501}
