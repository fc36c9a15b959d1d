"""shared.pagination: cursors bound to their filters, limits, pages."""

from __future__ import annotations

import base64
import enum
import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.errors import ValidationError
from shared.pagination import (
    MAX_LIMIT,
    Page,
    check_limit,
    decode_cursor,
    decode_key_cursor,
    encode_cursor,
    page_of,
)


class Status(enum.Enum):
    OPEN = "open"
    SHUT = "shut"


FILTERS: dict[str, object] = {
    "status": frozenset({Status.OPEN, Status.SHUT}),
    "by": uuid.UUID(int=7),
    "after": datetime(2026, 11, 26, tzinfo=UTC),
    "enabled": None,
}


def test_a_cursor_round_trips_for_the_same_filters() -> None:
    last = uuid.uuid4()
    cursor = encode_cursor(last, FILTERS)
    assert decode_cursor(cursor, dict(FILTERS)) == last
    # the same set in another order is the same filter
    again = FILTERS | {"status": frozenset({Status.SHUT, Status.OPEN})}
    assert decode_cursor(cursor, again) == last


def test_no_cursor_is_the_first_page() -> None:
    assert decode_cursor(None, FILTERS) is None
    assert decode_cursor("", FILTERS) is None


@pytest.mark.parametrize(
    "other",
    [
        FILTERS | {"status": frozenset({Status.OPEN})},
        FILTERS | {"by": uuid.UUID(int=8)},
        FILTERS | {"enabled": True},
        {k: v for k, v in FILTERS.items() if k != "after"},
    ],
)
def test_a_cursor_replayed_with_other_filters_is_422(other: dict[str, object]) -> None:
    cursor = encode_cursor(uuid.uuid4(), FILTERS)
    with pytest.raises(ValidationError) as raised:
        decode_cursor(cursor, other)
    assert [e.path for e in raised.value.errors] == ["query.cursor"]


def _b64(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "forged",
    [
        "%%%",
        str(uuid.UUID(int=9)),
        _b64("not json"),
        _b64("{}"),
        _b64("[1, 2]"),
        _b64('"a string"'),
        _b64(json.dumps({"after": 123, "f": "x"})),
        _b64(json.dumps({"after": "not-a-uuid", "f": "x"})),
        _b64(json.dumps({"after": str(uuid.UUID(int=9)), "f": "0000000000000000"})),
        "ü",
    ],
)
def test_a_forged_cursor_is_422_never_a_crash(forged: str) -> None:
    with pytest.raises(ValidationError):
        decode_cursor(forged, FILTERS)


@pytest.mark.parametrize("limit", [0, -1, MAX_LIMIT + 1])
def test_a_limit_out_of_range_is_422(limit: int) -> None:
    with pytest.raises(ValidationError, match="between 1 and 100"):
        check_limit(limit)


def test_limits_in_range_pass() -> None:
    check_limit(1)
    check_limit(MAX_LIMIT)
    check_limit(5, maximum=5)


def test_a_page_has_a_next_cursor_only_when_more_rows_follow() -> None:
    def after(n: int) -> str:
        return f"after-{n}"

    assert page_of([1, 2, 3], 2, after) == Page((1, 2), "after-2")
    assert page_of([1, 2], 2, after) == Page((1, 2), None)
    assert page_of([], 2, after) == Page((), None)


def test_a_key_cursor_carries_a_string_position_bound_to_its_filters() -> None:
    filters = {"skus": ["A-1", "B-2"], "available_lt": None}
    cursor = encode_cursor("B-2", filters)
    assert decode_key_cursor(cursor, filters) == "B-2"
    with pytest.raises(ValidationError):
        decode_key_cursor(cursor, {"skus": None, "available_lt": None})
    with pytest.raises(ValidationError):  # an id cursor cannot take a key position
        decode_cursor(cursor, filters)
