"""Catalog's HTTP process: ``ordo-catalog-api`` (uvicorn, one worker)."""

from __future__ import annotations

from importlib.metadata import version

from catalog.bootstrap import CatalogSettings, build_app
from shared.http import serve_http
from shared.observability import configure_process


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = CatalogSettings()
    configure_process(settings, version("ordo-catalog"))
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
