from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.clock import Clock, FrozenClock, SystemClock, rfc3339


def test_system_clock_is_aware_utc_and_current() -> None:
    now = SystemClock().now()

    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(seconds=1)


def test_both_clocks_satisfy_the_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FrozenClock(), Clock)


def test_frozen_clock_stands_still() -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))

    assert clock.now() == clock.now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_frozen_clock_converts_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = FrozenClock(datetime(2026, 1, 1, 12, tzinfo=plus_two))

    assert clock.now() == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)

    clock.set(datetime(2026, 6, 1, 0, 30, tzinfo=plus_two))
    assert clock.now() == datetime(2026, 5, 31, 22, 30, tzinfo=UTC)


@pytest.mark.parametrize("step", [timedelta(minutes=5), 300, 300.0])
def test_frozen_clock_advances(step: timedelta | float) -> None:
    clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))

    assert clock.advance(step) == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert clock.now() == datetime(2026, 1, 1, 0, 5, tzinfo=UTC)


def test_frozen_clock_rejects_naive_datetimes_and_going_back_by_advance() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FrozenClock(datetime(2026, 1, 1))  # noqa: DTZ001
    clock = FrozenClock()
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)


def test_rfc3339_writes_utc_with_a_z() -> None:
    moment = datetime(2026, 11, 26, 12, 0, 0, 250000, tzinfo=UTC)
    assert rfc3339(moment) == "2026-11-26T12:00:00.250000Z"
    plus_two = moment.astimezone(timezone(timedelta(hours=2)))
    assert rfc3339(plus_two) == "2026-11-26T12:00:00.250000Z"
    assert rfc3339(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
