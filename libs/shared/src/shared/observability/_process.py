"""Process-wide observability set-up, done once by every entrypoint before it builds anything."""

from __future__ import annotations

from shared.observability.logging import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import ServiceSettings

__all__ = ["LOCAL_OTLP_ENDPOINT", "configure_process", "trace_export_endpoint"]

# The local stack's trace store (infra/jaeger: OTLP/HTTP in, on loopback).
LOCAL_OTLP_ENDPOINT = "http://127.0.0.1:14318"


def trace_export_endpoint(settings: ServiceSettings) -> str | None:
    """Where the process's spans go: ``ORDO_OTEL_EXPORTER_OTLP_ENDPOINT`` when set (empty: off),
    else the local stack's Jaeger in the ``local`` environment, and nowhere in the others.

    Export is batched and bounded and never blocks a request, even with the store down
    (:class:`shared.observability.tracing.ExportLimits`).
    """
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint is None:
        return LOCAL_OTLP_ENDPOINT if settings.environment == "local" else None
    return endpoint or None


def configure_process(settings: ServiceSettings, version: str, role: str | None = None) -> str:
    """Configure JSON logs and tracing for one process of a service; return its name.

    The name is ``<service>`` for the API and ``<service>-<role>`` for the others (``relay``,
    ``consumer``, ``worker``): the ``service`` of its log lines and traces.
    """
    name = f"{settings.service_name}-{role}" if role else settings.service_name
    configure_logging(name, settings.log_level)
    configure_tracing(
        name,
        version,
        trace_export_endpoint(settings),
        sample_ratio=settings.otel_traces_sample_ratio,
    )
    return name
