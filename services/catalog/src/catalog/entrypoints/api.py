"""Catalog's HTTP process: ``ordo-catalog-api`` (uvicorn, one worker)."""

from __future__ import annotations

from importlib.metadata import version

import uvicorn

from catalog.bootstrap import CatalogSettings, build_app
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = CatalogSettings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, version("ordo-catalog"), settings.otel_exporter_otlp_endpoint
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
