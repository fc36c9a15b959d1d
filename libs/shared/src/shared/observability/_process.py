"""Process-wide observability set-up, done once by every entrypoint before it builds anything."""

from __future__ import annotations

from shared.observability.logging import configure_logging
from shared.observability.tracing import configure_tracing
from shared.settings import ServiceSettings

__all__ = ["configure_process"]


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
        settings.otel_exporter_otlp_endpoint,
        sample_ratio=settings.otel_traces_sample_ratio,
    )
    return name
