"""Payments' HTTP process: ``ordo-payments-api`` (uvicorn, one worker, port 8004)."""

from __future__ import annotations

from importlib.metadata import version

from payments.bootstrap import PaymentsSettings, build_app
from shared.http import serve_http
from shared.observability import configure_process


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = PaymentsSettings()
    configure_process(settings, version("ordo-payments"))
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
