"""OpenTelemetry tracing: one SDK ``TracerProvider`` per process, W3C propagation, instrumentors.

OpenTelemetry lets the global provider be set only once per process, so
:func:`configure_tracing` creates it on the first call and, on later calls, adds exporters to
the same provider. Tests rely on that: ``configure_tracing(..., exporter=InMemorySpanExporter())``
attaches an in-memory exporter whenever it is called (the resource stays the first caller's).

Context crosses process boundaries in W3C ``traceparent``/``tracestate`` and ``baggage`` headers:
:func:`inject_headers` writes them (outbox rows, outgoing HTTP), :func:`extract_context` reads
them (Kafka records, incoming HTTP).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "ExportLimits",
    "configure_tracing",
    "current_trace_ids",
    "extract_context",
    "inject_headers",
    "instrument_aiokafka",
    "instrument_asyncpg",
    "instrument_sqlalchemy",
    "otlp_span_processor",
]

HeaderValue = str | bytes | None

_lock = threading.Lock()
_otlp_endpoints: set[str] = set()
_traced_engines: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass(frozen=True, slots=True)
class ExportLimits:
    """How spans leave a process for an OTLP collector: batched, bounded, never in the way.

    Ending a span only puts it on a queue of ``max_queue_size``; a background thread sends
    batches of up to ``max_batch`` every ``delay_ms`` (or sooner when a batch is full). When
    the collector is slow or down, a request gives up after ``timeout_s`` (retries included)
    and, once the queue is full, new spans are dropped: a request never waits for the trace
    store, and memory stays bounded. ``delay_ms`` is short so a trace shows up within a
    second or two locally; it costs one small request per second per busy process.
    """

    max_queue_size: int = 2048
    max_batch: int = 512
    delay_ms: int = 1000
    timeout_s: float = 2.0


def otlp_span_processor(endpoint: str, limits: ExportLimits | None = None) -> BatchSpanProcessor:
    """Return a batching processor exporting OTLP/HTTP to ``endpoint`` within ``limits``.

    ``endpoint`` is a collector base URL (``http://127.0.0.1:14318``) or its ``/v1/traces`` URL.
    """
    # Imported here: the OTLP exporter pulls in protobuf and requests.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415
        OTLPSpanExporter,
    )

    limits = limits or ExportLimits()
    exporter = OTLPSpanExporter(endpoint=_traces_url(endpoint), timeout=limits.timeout_s)
    return _BoundedBatchSpanProcessor(
        exporter,
        max_queue_size=limits.max_queue_size,
        schedule_delay_millis=limits.delay_ms,
        max_export_batch_size=limits.max_batch,
        export_timeout_millis=limits.timeout_s * 1000,
    )


class _BoundedBatchSpanProcessor(BatchSpanProcessor):
    """Shuts down within two export timeouts, whatever is queued.

    The SDK's shutdown (at process exit) drains the whole queue, batch by batch, each export
    retried until its timeout: with the store down that is 30 s, longer than a stop waits.
    """

    def shutdown(self) -> None:
        timeout_ms = int(self._batch_processor._export_timeout_millis * 2)
        self._batch_processor.shutdown(timeout_millis=timeout_ms)


def configure_tracing(
    service: str,
    version: str,
    otlp_endpoint: str | None,
    exporter: SpanExporter | None = None,
    *,
    sample_ratio: float = 1.0,
) -> TracerProvider:
    """Install (once) and return the process's SDK tracer provider, adding the given exporters.

    Args:
        service: ``service.name`` of the resource (first call only).
        version: ``service.version`` of the resource (first call only).
        otlp_endpoint: an OTLP/HTTP collector base URL (``http://collector:4318``) or its full
            ``/v1/traces`` URL; spans go there through :func:`otlp_span_processor` (batched,
            bounded, never blocking). None: no export.
        exporter: an extra exporter attached through a ``SimpleSpanProcessor`` (tests).
        sample_ratio: the share of new traces recorded (first call only): parent-based, so a
            trace continued from a sampled parent is always recorded, and an unsampled one
            never; 1.0 records everything.

    Calling it again never replaces the provider; it only adds exporters not added yet.
    """
    with _lock:
        provider = _sdk_provider()
        if provider is None:
            resource = Resource.create({SERVICE_NAME: service, SERVICE_VERSION: version})
            sampler = ParentBased(TraceIdRatioBased(sample_ratio))
            provider = TracerProvider(resource=resource, sampler=sampler)
            trace.set_tracer_provider(provider)
        propagate.set_global_textmap(
            CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])
        )
        if otlp_endpoint:
            url = _traces_url(otlp_endpoint)
            if url not in _otlp_endpoints:
                provider.add_span_processor(otlp_span_processor(url))
                _otlp_endpoints.add(url)
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider


def _sdk_provider() -> TracerProvider | None:
    current = trace.get_tracer_provider()
    return current if isinstance(current, TracerProvider) else None


def _traces_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def inject_headers(carrier: dict[str, str], context: Context | None = None) -> dict[str, str]:
    """Write the current (or given) trace context and baggage into ``carrier``; return it."""
    propagate.inject(carrier, context=context)
    return carrier


def extract_context(
    headers: Mapping[str, HeaderValue] | Iterable[tuple[str | bytes, HeaderValue]],
) -> Context:
    """Return the context carried by ``headers``: a mapping, or Kafka-style (name, bytes) pairs.

    Header names are matched case-insensitively; undecodable values are ignored by the
    propagators rather than failing the message.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    carrier: dict[str, str] = {}
    for name, value in pairs:
        if value is None:
            continue
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
        carrier[key.lower()] = text
    return propagate.extract(carrier)


def saved_trace_context() -> dict[str, str] | None:
    """The current trace context as a small mapping to store with a row, or None outside a span.

    For work a row schedules and another process does later (a payment attempt, a webhook
    delivery): store this with the row, and start the later work's span with
    ``context=extract_context(stored)`` so it joins the trace that asked for it.
    """
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    return inject_headers({})


def current_trace_ids() -> tuple[str | None, str | None]:
    """Return the current span's (trace_id, span_id) as lowercase hex, or (None, None)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def instrument_sqlalchemy(engine: Engine | AsyncEngine) -> None:
    """Trace every statement run through ``engine`` (sync or async); idempotent per engine.

    Engine-level rather than ``SQLAlchemyInstrumentor().instrument()``: that instrumentor is a
    process singleton that accepts one engine once, and services build their engine after start.
    """
    from opentelemetry.instrumentation.sqlalchemy.engine import (  # noqa: PLC0415
        EngineTracer,
    )
    from opentelemetry.instrumentation.sqlalchemy.version import (  # noqa: PLC0415
        __version__,
    )

    sync_engine = getattr(engine, "sync_engine", engine)
    with _lock:
        if sync_engine in _traced_engines:
            return
        tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
        meter = metrics.get_meter("opentelemetry.instrumentation.sqlalchemy", __version__)
        usage = meter.create_up_down_counter(
            "db.client.connections.usage",
            unit="connections",
            description="Connections in the state described by the state attribute.",
        )
        EngineTracer(tracer, sync_engine, usage)  # type: ignore[no-untyped-call]
        _traced_engines.add(sync_engine)


def instrument_asyncpg() -> None:
    """Trace raw asyncpg calls (LISTEN/NOTIFY, COPY); idempotent.

    Code going through SQLAlchemy is already traced by :func:`instrument_sqlalchemy`; enabling
    both gives each statement two spans.
    """
    from opentelemetry.instrumentation.asyncpg import (  # noqa: PLC0415
        AsyncPGInstrumentor,
    )

    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def instrument_aiokafka() -> None:
    """Trace aiokafka produce and consume calls, propagating context in record headers."""
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor  # noqa: PLC0415

    instrumentor = AIOKafkaInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()
