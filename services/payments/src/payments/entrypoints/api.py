"""Payments' HTTP process: ``ordo-payments-api`` (uvicorn, one worker, port 8004)."""

from __future__ import annotations

from importlib.metadata import version

from payments.bootstrap import PaymentsSettings, build_app
from shared.http import serve_http
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = PaymentsSettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, version("ordo-payments"), settings.otel_exporter_otlp_endpoint
    )
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
