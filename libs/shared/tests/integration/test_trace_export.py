"""Span export never stands in a request's way: the trace store down, or hanging, costs nothing.

A real OTLP/HTTP exporter (:func:`shared.observability.tracing.otlp_span_processor`) sends to
a loopback "store" this test controls: one that accepts connections and never answers (the
worst case: every export waits for its timeout), and one that is not there at all.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from shared.observability.tracing import ExportLimits, otlp_span_processor

QUEUE = 64


class HangingStore:
    """A TCP server that accepts connections, reads nothing, and never answers."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.connected = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)
            self.connected.set()

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def hanging_store() -> Iterator[HangingStore]:
    store = HangingStore()
    yield store
    store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_spans_end_while_the_store_hangs_and_the_queue_stays_bounded(
    hanging_store: HangingStore,
) -> None:
    # Were ending a span to wait for the store, each would take the 2 s timeout: the loop
    # below would take twenty minutes instead of milliseconds.
    limits = ExportLimits(max_queue_size=QUEUE, max_batch=8, delay_ms=10, timeout_s=2)
    processor = otlp_span_processor(f"http://127.0.0.1:{hanging_store.port}", limits)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("export-test")

    with tracer.start_as_current_span("first"):
        pass
    assert hanging_store.connected.wait(10), "the exporter never reached the store"

    # Ten queues' worth of spans end while the store holds the first export unanswered:
    # ending a span does not wait for the store, and what does not fit is dropped.
    for n in range(10 * QUEUE):
        with tracer.start_as_current_span(f"request {n}"):
            pass
    assert hanging_store.accepted, "the store was reached"
    queued = len(processor._batch_processor._queue)  # noqa: SLF001 - no public size
    assert queued <= QUEUE

    hanging_store.close()  # the export in flight fails; shutting down takes two timeouts at most
    provider.shutdown()


def test_spans_end_when_nothing_listens() -> None:
    limits = ExportLimits(max_queue_size=QUEUE, max_batch=8, delay_ms=10, timeout_s=1)
    processor = otlp_span_processor(f"http://127.0.0.1:{_free_port()}/v1/traces", limits)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("export-test")

    for n in range(10 * QUEUE):
        with tracer.start_as_current_span(f"request {n}"):
            pass
    assert len(processor._batch_processor._queue) <= QUEUE  # noqa: SLF001
    processor.force_flush(timeout_millis=5_000)  # the failure is logged, never raised
    provider.shutdown()
