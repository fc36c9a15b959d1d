"""The adaptive concurrency limit (gateway.domain.admission) on a fake clock: it grows while
latency holds, shrinks when latency rises or calls time out, stays within its bounds, ignores
what says nothing about latency, and refuses calls beyond it."""

from __future__ import annotations

import pytest

from gateway.domain.admission import AdaptiveLimit, LimitPolicy, Outcome

POLICY = LimitPolicy(initial_limit=20, min_limit=4, max_limit=60, window_samples=10)


def drive(
    limit: AdaptiveLimit,
    *,
    start: float,
    seconds: float,
    rtt: float,
    busy: float = 1.0,
    outcome: Outcome = Outcome.SUCCESS,
) -> float:
    """Keep ``busy`` x limit calls in flight, each taking ``rtt``, for ``seconds``; return the
    time reached."""
    now = start
    while now < start + seconds:
        permits = [limit.try_acquire(now) for _ in range(max(1, int(limit.limit * busy)))]
        now += rtt
        for permit in permits:
            assert permit is not None
            limit.release(permit, now, outcome)
    return now


def test_the_limit_grows_while_latency_stays_at_its_usual_level() -> None:
    limit = AdaptiveLimit(POLICY)
    now = drive(limit, start=0.0, seconds=2.0, rtt=0.010)
    assert limit.limit > POLICY.initial_limit
    before = limit.limit
    drive(limit, start=now, seconds=5.0, rtt=0.010)
    assert limit.limit > before
    assert limit.min_rtt_s == pytest.approx(0.010)


def test_the_limit_shrinks_when_latency_rises() -> None:
    limit = AdaptiveLimit(POLICY)
    now = drive(limit, start=0.0, seconds=3.0, rtt=0.010)
    grown = limit.limit
    drive(limit, start=now, seconds=1.0, rtt=0.050)  # calls queue inside the service
    assert limit.limit < grown
    assert limit.limit >= POLICY.min_limit


def test_a_long_overload_does_not_become_the_baseline() -> None:
    limit = AdaptiveLimit(POLICY)
    now = drive(limit, start=0.0, seconds=3.0, rtt=0.010)
    drive(limit, start=now, seconds=50.0, rtt=0.080)  # queueing in the service, < baseline_s
    assert limit.limit <= 2 * POLICY.headroom  # still shedding, not grown back
    assert limit.min_rtt_s == pytest.approx(0.010)


def test_a_service_slower_for_good_is_learned_again() -> None:
    policy = LimitPolicy(initial_limit=20, min_limit=4, max_limit=60, baseline_s=5.0)
    limit = AdaptiveLimit(policy)
    now = drive(limit, start=0.0, seconds=3.0, rtt=0.010)
    now = drive(limit, start=now, seconds=10.0, rtt=0.080)  # past baseline_s
    assert limit.min_rtt_s == pytest.approx(0.080)
    shrunk = limit.limit
    drive(limit, start=now, seconds=10.0, rtt=0.080)
    assert limit.limit > shrunk


def test_latency_within_the_tolerance_is_not_queueing() -> None:
    limit = AdaptiveLimit(POLICY)
    now = drive(limit, start=0.0, seconds=2.0, rtt=0.010)
    before = limit.limit
    drive(limit, start=now, seconds=1.0, rtt=0.014)  # 1.4x < tolerance 1.5
    assert limit.limit >= before


def test_the_limit_stays_within_its_bounds() -> None:
    limit = AdaptiveLimit(POLICY)
    drive(limit, start=0.0, seconds=60.0, rtt=0.010)
    assert limit.limit == POLICY.max_limit
    # Without headroom (which alone keeps Gradient2 at 2 x headroom or more) down to the floor.
    limit = AdaptiveLimit(LimitPolicy(initial_limit=20, min_limit=4, max_limit=60, headroom=0))
    now = drive(limit, start=0.0, seconds=3.0, rtt=0.010)
    drive(limit, start=now, seconds=60.0, rtt=0.500)
    assert limit.limit == 4


def test_a_timeout_shrinks_the_limit_at_once() -> None:
    limit = AdaptiveLimit(POLICY)
    permit = limit.try_acquire(0.0)
    assert permit is not None
    limit.release(permit, 3.0, Outcome.DROPPED)  # one call, a timeout: enough to act on
    assert limit.limit < POLICY.initial_limit


def test_a_light_load_leaves_the_limit_alone() -> None:
    limit = AdaptiveLimit(POLICY)
    drive(limit, start=0.0, seconds=5.0, rtt=0.010, busy=0.25)  # 5 of 20 in flight
    assert limit.limit == POLICY.initial_limit
    drive(limit, start=5.0, seconds=5.0, rtt=0.200, busy=0.25)  # slow, but nobody queues here
    assert limit.limit == POLICY.initial_limit


def test_ignored_outcomes_say_nothing_about_latency() -> None:
    limit = AdaptiveLimit(POLICY)
    drive(limit, start=0.0, seconds=5.0, rtt=0.500, outcome=Outcome.IGNORED)
    assert limit.limit == POLICY.initial_limit
    assert limit.in_flight == 0


def test_calls_beyond_the_limit_are_refused_until_one_ends() -> None:
    limit = AdaptiveLimit(LimitPolicy(initial_limit=2, min_limit=1, max_limit=2))
    first, second = limit.try_acquire(0.0), limit.try_acquire(0.0)
    assert first is not None
    assert second is not None
    assert limit.is_full()
    assert limit.try_acquire(0.0) is None
    assert limit.in_flight == 2
    limit.release(first, 0.01, Outcome.SUCCESS)
    assert not limit.is_full()
    assert limit.try_acquire(0.01) is not None


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"min_limit": 0}, "min_limit"),
        ({"initial_limit": 300}, "initial_limit"),
        ({"min_limit": 30}, "min_limit"),
        ({"smoothing": 0.0}, "smoothing"),
        ({"tolerance": 0.9}, "tolerance"),
        ({"window_min_s": 2.0}, "window_min_s"),
    ],
)
def test_inconsistent_policies_are_refused(bad: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LimitPolicy(**bad)  # type: ignore[arg-type]
