"""The pipeline's decisions with fakes for the database and Kafka: no IO, no real waiting."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka.structs import ConsumerRecord
from prometheus_client import CollectorRegistry

from shared.clock import FrozenClock
from shared.errors import ConflictError, DependencyUnavailableError
from shared.inbox import (
    InboxEvent,
    MessageProcessor,
    Origin,
    Outcome,
    RedeliveryPolicy,
    RetryState,
    ignore_event,
)
from shared.inbox._headers import format_time, parse_dead_letter, parse_retry_state, retry_headers
from shared.observability.metrics import Metrics

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
EVENT = "test.thing.v1"
POLICY = RedeliveryPolicy(max_attempts=4, initial_delay_s=1.0, multiplier=2.0, max_delay_s=10.0)


@dataclass
class FakeSession:
    statements: list[Any] = field(default_factory=list)

    async def execute(self, statement: Any, *args: Any) -> None:
        self.statements.append(statement)


@dataclass
class FakePublisher:
    sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = field(
        default_factory=list
    )

    async def send(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Any
    ) -> None:
        self.sent.append((topic, key, value, list(headers)))


class Harness:
    def __init__(self, handler: Any, *, timeout_s: float = 30.0) -> None:
        self.session = FakeSession()
        self.publisher = FakePublisher()
        self.sleeps: list[float] = []
        self.clock = FrozenClock(NOW)
        self.transactions = 0

        @contextlib.asynccontextmanager
        async def transaction() -> AsyncIterator[tuple[Any, Any]]:
            self.transactions += 1
            yield self.session, self.session

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.clock.set(self.clock.now() + timedelta(seconds=seconds))

        self.processor = MessageProcessor(
            topic="orders",
            group="catalog",
            handlers={EVENT: handler},
            transaction=transaction,
            publisher=self.publisher,  # type: ignore[arg-type]
            policy=POLICY,
            clock=self.clock,
            metrics=Metrics(CollectorRegistry()),
            handler_timeout_s=timeout_s,
            sleep=sleep,
            rand=lambda: 0.0,
        )
        # The claim is SQL; these tests are about what happens around it.
        self.processor.dedupe = False


def record(topic: str = "orders", headers: list[tuple[str, bytes]] | None = None) -> ConsumerRecord:
    base = [("ce_id", b"e-1"), ("ce_type", EVENT.encode())]
    return ConsumerRecord(
        topic=topic,
        partition=2,
        offset=40,
        timestamp=0,
        timestamp_type=0,
        key=b"k-1",
        value=b'{"n": 1}',
        checksum=None,
        serialized_key_size=3,
        serialized_value_size=8,
        headers=base + (headers or []),
    )


def failing(times: int, exc: Exception) -> Any:
    calls: list[int] = []

    async def handler(event: InboxEvent, session: Any) -> None:
        calls.append(event.attempt)
        if len(calls) <= times:
            raise exc

    handler.calls = calls  # type: ignore[attr-defined]
    return handler


async def test_a_transient_failure_on_the_source_topic_parks_the_key_and_moves_to_the_lane() -> (
    None
):
    h = Harness(failing(1, DependencyUnavailableError()))
    assert await h.processor.process_main(record()) is Outcome.RETRY
    ((topic, key, value, headers),) = h.publisher.sent
    assert (topic, key, value) == ("orders.retry.catalog", b"k-1", b'{"n": 1}')
    state = parse_retry_state(headers, Origin("x", 0, 0))
    assert state.origin == Origin("orders", 2, 40)
    assert state.attempts == 1
    assert state.not_before == NOW + timedelta(seconds=1)
    assert state.last_error_code == "dependency.unavailable"
    assert "inbox_parked_keys" in str(h.session.statements[0])
    assert h.sleeps == []  # the source partition never waits


async def test_a_permanent_failure_on_the_source_topic_is_dead_lettered_at_once() -> None:
    h = Harness(failing(1, ConflictError("Already confirmed.")))
    assert await h.processor.process_main(record()) is Outcome.DEAD_LETTER
    ((topic, _key, _value, headers),) = h.publisher.sent
    letter = parse_dead_letter(headers)
    assert topic == "orders.dlq"
    assert letter is not None
    assert (letter.attempts, letter.reason, letter.error_code) == (
        1,
        "permanent",
        "resource.conflict",
    )


async def test_an_ignored_type_is_acknowledged_without_a_transaction_or_a_decode() -> None:
    h = Harness(ignore_event)
    h.processor.dedupe = True  # a claim would be SQL on the fake session: there must be none
    bad_json = dataclasses.replace(record(), value=b"{not json")
    assert await h.processor.process_main(record()) is Outcome.IGNORED
    assert await h.processor.process_main(bad_json) is Outcome.IGNORED
    assert (h.transactions, h.session.statements, h.publisher.sent) == (0, [], [])
    samples = {
        s.labels["outcome"]: s.value
        for s in h.processor.metrics.consumer_handle_duration_seconds.collect()[0].samples
        if s.name.endswith("_count")
    }
    assert samples == {"ignored": 2.0}


async def test_an_ignored_type_without_an_event_id_is_still_dead_lettered() -> None:
    h = Harness(ignore_event)
    nameless = dataclasses.replace(record(), headers=[("ce_type", EVENT.encode())])
    assert await h.processor.process_main(nameless) is Outcome.DEAD_LETTER
    ((topic, *_),) = h.publisher.sent
    assert (topic, h.transactions) == ("orders.dlq", 0)


async def test_an_ignored_type_in_the_retry_lane_still_releases_its_key() -> None:
    h = Harness(ignore_event)
    lane = record("orders.retry.catalog", retry_headers([], RetryState(Origin("orders", 2, 40))))
    assert await h.processor.process_retry(lane) is Outcome.APPLIED
    assert h.transactions == 1
    assert "inbox_parked_keys" in str(h.session.statements[-1])


async def test_a_handler_that_hangs_times_out_as_a_transient_failure() -> None:
    async def hangs(event: InboxEvent, session: Any) -> None:
        await asyncio.sleep(10)

    h = Harness(hangs, timeout_s=0.01)
    assert await h.processor.process_main(record()) is Outcome.RETRY
    state = parse_retry_state(h.publisher.sent[0][3], Origin("x", 0, 0))
    assert state.last_error_code == "operation.timeout"


def lane_record(attempts: int, due_in_s: float) -> ConsumerRecord:
    state = RetryState(
        origin=Origin("orders", 2, 40),
        attempts=attempts,
        first_failure_at=NOW - timedelta(seconds=5),
        last_failure_at=NOW,
        not_before=NOW + timedelta(seconds=due_in_s),
    )
    return record("orders.retry.catalog", retry_headers([], state))


async def test_the_lane_waits_until_due_then_retries_in_place_with_growing_backoff() -> None:
    handler = failing(2, DependencyUnavailableError())
    h = Harness(handler)
    assert await h.processor.process_retry(lane_record(attempts=1, due_in_s=1.5)) is Outcome.APPLIED
    assert h.sleeps == [1.5, 2.0, 4.0]  # until due, then after the 2nd and 3rd failures
    assert handler.calls == [2, 3, 4]
    assert h.publisher.sent == []
    assert "inbox_parked_keys" in str(h.session.statements[-1])  # the key is released


async def test_the_lane_dead_letters_when_the_attempts_run_out() -> None:
    h = Harness(failing(100, DependencyUnavailableError("Stock service down.")))
    assert (
        await h.processor.process_retry(lane_record(attempts=1, due_in_s=0)) is Outcome.DEAD_LETTER
    )
    ((topic, key, _value, headers),) = h.publisher.sent
    letter = parse_dead_letter(headers)
    assert (topic, key) == ("orders.dlq", b"k-1")
    assert letter is not None
    assert letter.origin == Origin("orders", 2, 40)
    assert (letter.attempts, letter.reason) == (POLICY.max_attempts, "exhausted")
    assert letter.first_failure_at == NOW - timedelta(seconds=5)
    assert format_time(letter.last_failure_at) == format_time(NOW + timedelta(seconds=6))
    assert not [k for k, _ in headers if k.startswith("ordo-retry-")]
    assert "inbox_parked_keys" in str(h.session.statements[-1])


async def test_a_far_future_due_time_is_capped_at_the_longest_backoff() -> None:
    h = Harness(failing(0, DependencyUnavailableError()))
    await h.processor.process_retry(lane_record(attempts=1, due_in_s=86_400))
    assert h.sleeps == [POLICY.max_delay_s]
