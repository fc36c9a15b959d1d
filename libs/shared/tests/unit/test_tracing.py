from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import sqlalchemy
from fastapi import FastAPI
from opentelemetry import baggage, context, trace
from opentelemetry.exporter.otlp.proto.http import trace_exporter as otlp_trace_exporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.observability import (
    configure_tracing,
    current_trace_ids,
    extract_context,
    inject_headers,
    instrument_aiokafka,
    instrument_asyncpg,
    instrument_sqlalchemy,
    saved_trace_context,
    trace_export_endpoint,
)
from shared.observability._process import LOCAL_OTLP_ENDPOINT
from shared.observability.tracing import _traces_url
from shared.settings import ServiceSettings

tracer = trace.get_tracer("unit")


def test_the_provider_is_installed_once_and_extended(
    span_exporter: InMemorySpanExporter,
) -> None:
    extra = InMemorySpanExporter()
    provider = configure_tracing("another-name", "9.9.9", None, exporter=extra)

    assert provider is trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    assert provider.resource.attributes["service.name"] == "ordo-unit-tests"  # the first caller's
    with tracer.start_as_current_span("both-see-it"):
        pass
    assert [s.name for s in extra.get_finished_spans()] == ["both-see-it"]
    assert [s.name for s in span_exporter.get_finished_spans()] == ["both-see-it"]
    extra.shutdown()


class FakeOtlpExporter(InMemorySpanExporter):
    endpoints: list[str] = []

    def __init__(self, endpoint: str, timeout: float) -> None:
        super().__init__()
        assert timeout <= 5, "an export must give up quickly"
        self.endpoints.append(endpoint)


def test_an_otlp_endpoint_is_added_once(
    span_exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fake exporter class: a unit test must not send spans over the network.
    monkeypatch.setattr(otlp_trace_exporter, "OTLPSpanExporter", FakeOtlpExporter)
    provider = configure_tracing("x", "1", "http://collector.test:4318/")
    again = configure_tracing("x", "1", "http://collector.test:4318/v1/traces")

    assert again is provider
    assert FakeOtlpExporter.endpoints == ["http://collector.test:4318/v1/traces"]


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("http://collector:4318/v1/traces", "http://collector:4318/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert _traces_url(endpoint) == url


def test_no_ids_outside_a_span(span_exporter: InMemorySpanExporter) -> None:
    assert current_trace_ids() == (None, None)


def test_ids_inside_a_span(span_exporter: InMemorySpanExporter) -> None:
    with tracer.start_as_current_span("work") as span:
        trace_id, span_id = current_trace_ids()

    assert trace_id == format(span.get_span_context().trace_id, "032x")
    assert span_id == format(span.get_span_context().span_id, "016x")


def test_a_saved_trace_context_lets_later_work_join_the_trace(
    span_exporter: InMemorySpanExporter,
) -> None:
    assert saved_trace_context() is None  # nothing to join outside a span
    with tracer.start_as_current_span("schedule") as scheduling:
        stored = saved_trace_context()
    assert stored is not None
    with tracer.start_as_current_span("later", context=extract_context(stored)) as later:
        pass
    assert later.get_span_context().trace_id == scheduling.get_span_context().trace_id
    assert later.parent is not None
    assert later.parent.span_id == scheduling.get_span_context().span_id


def test_context_round_trips_through_headers(span_exporter: InMemorySpanExporter) -> None:
    token = context.attach(baggage.set_baggage("org_id", "org-7"))
    try:
        with tracer.start_as_current_span("producer") as span:
            headers = inject_headers({})
    finally:
        context.detach(token)

    assert headers["traceparent"].split("-")[1] == format(span.get_span_context().trace_id, "032x")
    restored = extract_context(headers)
    parent = trace.get_current_span(restored).get_span_context()
    assert parent.trace_id == span.get_span_context().trace_id
    assert parent.span_id == span.get_span_context().span_id
    assert parent.is_remote
    assert baggage.get_baggage("org_id", restored) == "org-7"


def test_kafka_style_headers_are_understood(span_exporter: InMemorySpanExporter) -> None:
    with tracer.start_as_current_span("producer") as span:
        carrier = inject_headers({})
    kafka_headers = [(name.title(), value.encode()) for name, value in carrier.items()]
    kafka_headers.append(("content-type", None))  # type: ignore[arg-type]

    with tracer.start_as_current_span("consumer", context=extract_context(kafka_headers)) as child:
        pass

    assert child.get_span_context().trace_id == span.get_span_context().trace_id
    assert child.parent is not None
    assert child.parent.span_id == span.get_span_context().span_id


def test_garbage_headers_give_an_empty_context() -> None:
    restored = extract_context({"traceparent": b"\xff\xfe not a header"})

    assert not trace.get_current_span(restored).get_span_context().is_valid


async def test_http_requests_get_server_spans_but_probes_do_not(
    make_app: Callable[..., FastAPI],
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    span_exporter: InMemorySpanExporter,
) -> None:
    async with client_for(make_app()) as http:
        await http.get("/health/live")
        await http.get("/health/ready")
        await http.get("/metrics")
        await http.get("/orders/7")

    spans = span_exporter.get_finished_spans()
    assert [s.name for s in spans] == ["GET /orders/{order_id}"]
    assert spans[0].kind is trace.SpanKind.SERVER


async def test_an_incoming_traceparent_is_continued(
    client: httpx.AsyncClient, span_exporter: InMemorySpanExporter
) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    response = await client.get(
        "/raise/not_found", headers={"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"}
    )

    assert response.json()["traceId"] == trace_id
    [span] = span_exporter.get_finished_spans()
    assert format(span.context.trace_id, "032x") == trace_id


def test_sqlalchemy_statements_are_traced_once(span_exporter: InMemorySpanExporter) -> None:
    engine = sqlalchemy.create_engine("sqlite://")
    instrument_sqlalchemy(engine)
    instrument_sqlalchemy(engine)  # idempotent: still one span per statement

    with tracer.start_as_current_span("use-case"), engine.connect() as connection:
        connection.execute(sqlalchemy.text("SELECT 1"))
    engine.dispose()

    names = [s.name for s in span_exporter.get_finished_spans()]
    assert names.count("SELECT") == 1
    assert names[-1] == "use-case"


def test_asyncpg_and_aiokafka_instrumentation_is_idempotent() -> None:
    from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor  # noqa: PLC0415
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor  # noqa: PLC0415

    try:
        instrument_asyncpg()
        instrument_asyncpg()
        instrument_aiokafka()
        instrument_aiokafka()

        assert AsyncPGInstrumentor().is_instrumented_by_opentelemetry
        assert AIOKafkaInstrumentor().is_instrumented_by_opentelemetry
    finally:
        AsyncPGInstrumentor().uninstrument()
        AIOKafkaInstrumentor().uninstrument()


@pytest.mark.parametrize(
    ("environment", "endpoint", "expected"),
    [
        ("local", None, LOCAL_OTLP_ENDPOINT),  # `make up`: the local Jaeger
        ("test", None, None),
        ("production", None, None),
        ("local", "", None),  # explicitly off
        ("production", "http://otel:4318", "http://otel:4318"),
    ],
)
def test_spans_go_to_the_local_jaeger_unless_told_otherwise(
    environment: str, endpoint: str | None, expected: str | None
) -> None:
    settings = ServiceSettings(environment=environment, otel_exporter_otlp_endpoint=endpoint)
    assert trace_export_endpoint(settings) == expected
