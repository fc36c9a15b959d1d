"""Observability: JSON logs (structlog), OpenTelemetry traces and Prometheus metrics."""

from shared.observability._process import configure_process, trace_export_endpoint
from shared.observability.logging import add_trace_ids, configure_logging, scrub_pii
from shared.observability.metrics import (
    HttpMetricsMiddleware,
    Metrics,
    default_metrics,
    metrics_endpoint,
)
from shared.observability.tracing import (
    configure_tracing,
    current_trace_ids,
    extract_context,
    inject_headers,
    instrument_aiokafka,
    instrument_asyncpg,
    instrument_sqlalchemy,
    saved_trace_context,
)

__all__ = [
    "HttpMetricsMiddleware",
    "Metrics",
    "add_trace_ids",
    "configure_logging",
    "configure_process",
    "configure_tracing",
    "current_trace_ids",
    "default_metrics",
    "extract_context",
    "inject_headers",
    "instrument_aiokafka",
    "instrument_asyncpg",
    "instrument_sqlalchemy",
    "metrics_endpoint",
    "saved_trace_context",
    "scrub_pii",
    "trace_export_endpoint",
]
