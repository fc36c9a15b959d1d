"""One publish round: send a batch of rows through aiokafka, then settle what may be marked.

Order argument (the ADR has the long form). aiokafka with ``enable_idempotence`` keeps one
request in flight per partition and retries retriable errors without reordering, so for one
producer the rows of a key reach the log in the order they were sent. A round sends every row of
a lane in ``seq`` order and marks only the prefix that was acknowledged: a row after a failure
is sent again later, after the failed one, as a duplicate. The first copy of every row of a key
therefore lands in ``seq`` order, and the inbox drops the later copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from shared.observability.tracing import extract_context, inject_headers
from shared.outbox._store import OutboxRow

__all__ = ["RoundResult", "partition_for", "publish_round", "settle"]

_tracer = trace.get_tracer("shared.outbox")
_TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
# Partition of each key, per partition count. aiokafka's default partitioner is Kafka's
# (murmur2 of the key, modulo the partition count) written in pure Python, a third of the cost
# of a send; a relay sends the same aggregates' keys again and again, so it computes each once.
_partitions: dict[tuple[int, bytes], int] = {}
_MAX_MEMO = 200_000


def partition_for(key: bytes, partitions: int) -> int:
    """Kafka's default partition of ``key`` (what aiokafka and the Java client compute)."""
    memo_key = (partitions, key)
    partition = _partitions.get(memo_key)
    if partition is None:
        if len(_partitions) >= _MAX_MEMO:
            _partitions.clear()
        partition = _partitions[memo_key] = (murmur2(key) & 0x7FFFFFFF) % partitions
    return partition


@dataclass(slots=True)
class RoundResult:
    """The outcome of a round: rows to mark, and the first failure of every stopped lane."""

    published: list[OutboxRow] = field(default_factory=list)
    failed: dict[int, tuple[OutboxRow, BaseException | None]] = field(default_factory=dict)


def settle(
    rows: Sequence[OutboxRow], outcomes: Sequence[BaseException | bool | None]
) -> RoundResult:
    """Split a round per lane into the acknowledged prefix and the row that stopped the lane.

    ``outcomes[i]`` is ``None`` when row ``i`` was acknowledged, an exception when it failed,
    ``False`` when no answer came in time. Rows must be in ``seq`` order.
    """
    result = RoundResult()
    for row, outcome in zip(rows, outcomes, strict=True):
        if row.lane in result.failed:
            continue
        if outcome is None:
            result.published.append(row)
        else:
            result.failed[row.lane] = (row, outcome if isinstance(outcome, BaseException) else None)
    return result


def _tracing_enabled() -> bool:
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def _start_span(row: OutboxRow) -> tuple[Span, list[tuple[str, bytes]]]:
    # The publish span is a child of the span that wrote the row (its traceparent travelled in
    # the row), and the record carries the publish span on: one trace from request to consumer.
    parent = extract_context(row.headers)
    span = _tracer.start_span(
        f"publish {row.topic}",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "send",
            "messaging.destination.name": row.topic,
            "messaging.message.id": str(row.id),
            "messaging.kafka.message.key": row.key,
        },
    )
    carrier: dict[str, str] = {k: v.decode() for k, v in row.headers if k not in _TRACE_HEADERS}
    inject_headers(carrier, context=trace.set_span_in_context(span, parent))
    return span, [(k, v.encode()) for k, v in carrier.items()]


def _end_span(span: Span, future: asyncio.Future[object]) -> None:
    if future.cancelled():
        span.set_status(Status(StatusCode.ERROR, "cancelled"))
    elif (error := future.exception()) is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


def _consume_result(future: asyncio.Future[object]) -> None:
    # A send we stopped waiting for may still fail later; read its error so asyncio does not
    # log "exception was never retrieved" for a row that will simply be sent again.
    if not future.cancelled():
        future.exception()


async def publish_round(
    producer: AIOKafkaProducer,
    rows: Sequence[OutboxRow],
    *,
    timeout: float,  # noqa: ASYNC109
) -> list[BaseException | bool | None]:
    """Send ``rows`` in order and wait up to ``timeout`` for their acknowledgements.

    Returns one outcome per row (see :func:`settle`). Sends still pending at the deadline are
    left to aiokafka: they may land later, which is a duplicate, never a reordering.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    traced = _tracing_enabled()
    items: list[asyncio.Future[object] | BaseException | bool] = [False] * len(rows)
    stopped: set[int] = set()
    send = producer.send
    counts: dict[str, int | BaseException] = {}
    # One deadline around the whole loop: send() only blocks when aiokafka's buffer is full.
    # This loop is the relay's hot path (tens of thousands of rows a second): no per-row
    # helper calls or callbacks unless tracing is on.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(deadline):
            for i, row in enumerate(rows):
                if stopped and row.lane in stopped:
                    continue  # its lane already failed this round: sending would only duplicate
                count = counts.get(row.topic)
                if count is None:
                    count = counts[row.topic] = await _partition_count(producer, row.topic)
                if isinstance(count, BaseException):
                    items[i] = count
                elif traced:
                    items[i] = await _send_traced(producer, row, count)
                else:
                    key = row.key.encode()
                    try:
                        items[i] = await send(
                            row.topic,
                            row.payload,
                            key=key,
                            partition=partition_for(key, count),
                            headers=row.headers,
                        )
                    except Exception as error:
                        items[i] = error
                if isinstance(items[i], BaseException):
                    stopped.add(row.lane)
    pending = [f for f in items if isinstance(f, asyncio.Future) and not f.done()]
    if pending:
        await asyncio.wait(pending, timeout=max(deadline - loop.time(), 0.001))
        for future in pending:
            if not future.done():
                future.add_done_callback(_consume_result)
    return [_outcome(item) for item in items]


async def _partition_count(producer: AIOKafkaProducer, topic: str) -> int | BaseException:
    try:
        partitions = await producer.partitions_for(topic)
    except Exception as error:
        return error
    return len(partitions)


async def _send_traced(
    producer: AIOKafkaProducer, row: OutboxRow, partitions: int
) -> asyncio.Future[object] | BaseException:
    span, headers = _start_span(row)
    key = row.key.encode()
    try:
        future: asyncio.Future[object] = await producer.send(
            row.topic,
            row.payload,
            key=key,
            partition=partition_for(key, partitions),
            headers=headers,
        )
    except Exception as error:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
        return error
    except BaseException:
        span.end()
        raise
    future.add_done_callback(functools.partial(_end_span, span))
    return future


def _outcome(item: asyncio.Future[object] | BaseException | bool) -> BaseException | bool | None:
    if isinstance(item, bool | BaseException):
        return item
    if not item.done():
        return False
    if item.cancelled():
        return asyncio.CancelledError()
    return item.exception()
