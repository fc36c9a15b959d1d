"""Which dead letters a replay selects, and the command line that describes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.inbox import DeadLetter, Origin, ReplayFilter
from shared.inbox.replay import build_parser, parse_filter

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LETTER = DeadLetter(
    origin=Origin("orders.events", 0, 1),
    group="catalog",
    error_code="validation.failed",
    error_message="",
    error_class="",
    attempts=1,
    first_failure_at=T0,
    last_failure_at=T0,
    reason="permanent",
)


def test_an_empty_filter_selects_everything() -> None:
    assert ReplayFilter().matches(LETTER, None, T0)


@pytest.mark.parametrize(
    ("chosen", "selected"),
    [
        (ReplayFilter(since=T0), True),
        (ReplayFilter(since=T0 + timedelta(milliseconds=1)), False),
        (ReplayFilter(until=T0), False),  # until is exclusive
        (ReplayFilter(until=T0 + timedelta(seconds=1)), True),
        (ReplayFilter(error_codes=frozenset({"validation.failed", "x"})), True),
        (ReplayFilter(error_codes=frozenset({"infrastructure.error"})), False),
        (ReplayFilter(event_types=frozenset({"order.placed.v1"})), True),
        (ReplayFilter(event_types=frozenset({"order.cancelled.v1"})), False),
        (ReplayFilter(groups=frozenset({"catalog"})), True),
        (ReplayFilter(groups=frozenset({"payments"})), False),
    ],
)
def test_each_criterion_narrows_the_selection(chosen: ReplayFilter, selected: bool) -> None:
    assert chosen.matches(LETTER, "order.placed.v1", T0) is selected


def test_the_command_line_builds_the_filter() -> None:
    args = build_parser().parse_args(
        [
            "--dlq-topic",
            "orders.events.dlq",
            "--actor",
            "alice",
            "--reason",
            "INC-42",
            "--code",
            "a.b",
            "--code",
            "c.d",
            "--type",
            "order.placed.v1",
            "--group",
            "catalog",
            "--since",
            "2026-11-26T12:00:00Z",
            "--until",
            "2026-11-27T00:00:00+01:00",
            "--target",
            "original",
            "--dry-run",
        ]
    )
    assert parse_filter(args) == ReplayFilter(
        since=T0,
        until=datetime(2026, 11, 26, 23, 0, tzinfo=UTC),
        error_codes=frozenset({"a.b", "c.d"}),
        event_types=frozenset({"order.placed.v1"}),
        groups=frozenset({"catalog"}),
    )
    assert (args.target, args.dry_run, args.allow_old) == ("original", True, False)
    assert parse_filter(args).as_json()["error_codes"] == ["a.b", "c.d"]


def test_the_audit_fields_and_a_valid_time_are_required() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--dlq-topic", "t.dlq", "--actor", "a"])
    with pytest.raises(SystemExit):
        parser.parse_args(
            ["--dlq-topic", "t.dlq", "--actor", "a", "--reason", "r", "--since", "yesterday"]
        )
