"""Orders' HTTP process: ``ordo-orders-api`` (uvicorn, one worker, ``ORDO_HTTP_PORT`` 8003)."""

from __future__ import annotations

from importlib.metadata import version

from orders.bootstrap import OrdersSettings, build_app
from shared.http import serve_http
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = OrdersSettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, version("ordo-orders"), settings.otel_exporter_otlp_endpoint
    )
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
