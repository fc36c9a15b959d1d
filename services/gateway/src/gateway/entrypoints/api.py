"""The gateway's HTTP process: ``ordo-gateway-api`` (uvicorn, one worker)."""

from __future__ import annotations

from gateway.bootstrap import GatewaySettings, build_app
from shared.http import serve_http
from shared.observability import configure_logging


def main() -> None:
    """Read settings, configure logging and serve until SIGTERM."""
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
