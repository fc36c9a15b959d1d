"""The redelivery policy: exponential backoff, capped, with a jitter floor."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.inbox import RedeliveryPolicy


def test_the_default_waits_grow_threefold_from_one_second_up_to_a_minute() -> None:
    policy = RedeliveryPolicy()
    assert [policy.base_delay(n) for n in range(1, 7)] == [1.0, 3.0, 9.0, 27.0, 60.0, 60.0]
    assert policy.worst_case_total_s() == 100.0  # five waits between six attempts


def test_jitter_scales_the_wait_between_its_floor_and_the_full_delay() -> None:
    policy = RedeliveryPolicy(initial_delay_s=2.0, jitter=0.5)
    assert policy.delay(1, rand=lambda: 0.0) == 2.0
    assert policy.delay(1, rand=lambda: 0.999999) == pytest.approx(1.0, abs=1e-5)
    assert RedeliveryPolicy(jitter=0.0).delay(2, rand=lambda: 0.7) == 3.0


def test_a_huge_failure_count_is_capped_not_overflowing() -> None:
    policy = RedeliveryPolicy(multiplier=10.0, max_delay_s=30.0)
    assert policy.base_delay(10_000) == 30.0


@given(
    initial=st.floats(min_value=0.0, max_value=10.0),
    multiplier=st.floats(min_value=1.0, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=600.0),
    jitter=st.floats(min_value=0.0, max_value=1.0),
    failures=st.integers(min_value=1, max_value=500),
    rand=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_every_wait_grows_and_lies_within_the_jittered_band_below_the_cap(
    initial: float, multiplier: float, cap: float, jitter: float, failures: int, rand: float
) -> None:
    policy = RedeliveryPolicy(
        initial_delay_s=initial, multiplier=multiplier, max_delay_s=cap, jitter=jitter
    )
    base = policy.base_delay(failures)
    assert 0.0 <= base <= cap
    assert base <= policy.base_delay(failures + 1)  # never shrinks
    wait = policy.delay(failures, rand=lambda: rand)
    assert base * (1 - jitter) - 1e-9 <= wait <= base + 1e-9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"initial_delay_s": -1.0},
        {"max_delay_s": -1.0},
        {"multiplier": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        RedeliveryPolicy(**kwargs)  # type: ignore[arg-type]


def test_the_first_wait_is_after_the_first_failure() -> None:
    with pytest.raises(ValueError, match="from 1"):
        RedeliveryPolicy().base_delay(0)
