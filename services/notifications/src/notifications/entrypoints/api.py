"""Notifications' HTTP process: ``ordo-notifications-api`` (uvicorn, one worker, port 8005)."""

from __future__ import annotations

from importlib.metadata import version

from notifications.bootstrap import NotificationsSettings, build_app
from shared.http import serve_http
from shared.observability import configure_process


def main() -> None:
    """Read settings, configure logging and tracing, serve until SIGTERM."""
    settings = NotificationsSettings()
    configure_process(settings, version("ordo-notifications"))
    serve_http(build_app(settings), settings)


if __name__ == "__main__":
    main()
