"""The producer of retry-lane, dead-letter and replayed records: idempotent, ``acks=all``."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import (
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from shared.inbox._headers import Headers
from shared.messaging import create_producer
from shared.resilience.timeouts import with_timeout
from shared.settings import KafkaSettings

MAX_RECORD_BYTES = 1_000_000
"""The largest record (key + value + headers) the publisher sends: below aiokafka's
``max_request_size`` and the broker's ``message.max.bytes`` (both ~1 MiB), framing included."""

_UNPRODUCIBLE = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
    TypeError,
    ValueError,
)


def unproducible(exc: BaseException) -> bool:
    """Return True when ``exc`` says *this record* can never be produced (not the broker).

    Too large for the client or the broker, refused as corrupt, or not serialisable: sending it
    again cannot succeed, so it must not be retried in place.
    """
    return isinstance(exc, _UNPRODUCIBLE)


class RecordPublisher:
    """Re-publishes records byte for byte (key, value, headers), started on first use.

    Its own producer rather than the FastStream broker's: the broker's producer settings are
    the service's choice, and FastStream adds its own headers; a dead letter must keep the
    original bytes and needs ``acks=all`` whatever the service configured.

    Args:
        kafka: the cluster; the producer comes from :func:`shared.messaging.create_producer`.
        timeout_s: the deadline of one send, acknowledgement included.
    """

    def __init__(self, kafka: KafkaSettings, *, timeout_s: float = 15.0) -> None:
        self._kafka = kafka
        self._timeout_s = timeout_s
        self._producer: Any = None
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the producer now (otherwise it starts on the first send)."""
        async with self._lock:
            if self._producer is None:
                producer = create_producer(self._kafka, linger_ms=0)
                await with_timeout(producer.start(), self._timeout_s, operation="kafka.connect")
                self._producer = producer

    async def send(
        self, topic: str, *, key: bytes | None, value: bytes | None, headers: Headers
    ) -> None:
        """Publish one record and wait until every in-sync replica has it.

        Raises:
            OperationTimeoutError: no acknowledgement within the deadline (the record may still
                arrive: consumers of these topics deduplicate).
            KafkaError: the broker refused the record.
        """
        if self._producer is None:
            await self.start()
        await with_timeout(
            self._producer.send_and_wait(topic, value=value, key=key, headers=list(headers)),
            self._timeout_s,
            operation="kafka.publish",
        )

    async def stop(self) -> None:
        """Flush and stop the producer, if it was started."""
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
