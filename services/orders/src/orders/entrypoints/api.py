"""Orders' HTTP process: ``ordo-orders-api`` (uvicorn, one worker, ``ORDO_HTTP_PORT`` 8003)."""

from __future__ import annotations

from importlib.metadata import version

from orders.bootstrap import OrdersSettings, build_app
from shared.http import serve_http
from shared.observability import configure_process


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = OrdersSettings()
    configure_process(settings, version("ordo-orders"))
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
