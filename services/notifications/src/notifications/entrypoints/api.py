"""Notifications' HTTP process: ``ordo-notifications-api`` (uvicorn, one worker, port 8005)."""

from __future__ import annotations

from importlib.metadata import version

from notifications.bootstrap import NotificationsSettings, build_app
from shared.http import serve_http
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = NotificationsSettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, version("ordo-notifications"), settings.otel_exporter_otlp_endpoint
    )
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
