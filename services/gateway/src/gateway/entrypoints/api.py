"""The gateway's HTTP process: ``ordo-gateway-api`` (uvicorn, one worker)."""

from __future__ import annotations

import uvicorn

from gateway.bootstrap import GatewaySettings, build_app
from shared.observability import configure_logging


def main() -> None:
    """Read settings, configure logging and serve until SIGTERM."""
    settings = GatewaySettings()
    configure_logging(settings.service_name, settings.log_level)
    uvicorn.run(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
