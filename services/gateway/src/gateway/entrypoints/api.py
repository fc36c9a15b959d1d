"""The gateway's HTTP process: ``ordo-gateway-api`` (uvicorn, one worker)."""

from __future__ import annotations

from importlib.metadata import version

from gateway.bootstrap import GatewaySettings, build_app
from shared.http import serve_http
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, version("ordo-gateway"), settings.otel_exporter_otlp_endpoint
    )
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
