"""Identity's HTTP process: ``ordo-identity-api`` (uvicorn, one worker)."""

from __future__ import annotations

from importlib.metadata import version

import uvicorn

from identity.bootstrap import IdentitySettings, build_app
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = IdentitySettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, version("ordo-identity"), settings.otel_exporter_otlp_endpoint
    )
    uvicorn.run(
        build_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
