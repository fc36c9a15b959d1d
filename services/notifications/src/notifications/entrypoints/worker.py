"""Notifications' delivery worker: ``ordo-notifications-worker``.

Delivers due webhooks (signed per Standard Webhooks, retried with backoff and jitter, one
circuit breaker per endpoint) and serves ``/health/live``, ``/health/ready`` and ``/metrics`` on
``ORDO_WORKER_HEALTH_PORT`` (8305). Run as many replicas as you like: deliveries are claimed
with ``FOR UPDATE SKIP LOCKED`` and leased. On SIGTERM the health server stops, the worker
claims nothing more, waits for its attempts in flight (at most the HTTP timeout + 5 s) and exits.
"""

from __future__ import annotations

from importlib.metadata import version

from notifications.bootstrap import NotificationsSettings, build_worker
from shared.http import serve_with_worker
from shared.observability import configure_process
from shared.runtime import run


def main() -> None:
    """Read settings, configure logging and tracing, deliver until SIGTERM."""
    settings = NotificationsSettings()
    configure_process(settings, version("ordo-notifications"), "worker")
    process = build_worker(settings)
    run(
        serve_with_worker(
            process.run(),
            process.worker.stop,
            process.health,
            host=settings.http_host,
            port=settings.worker_health_port,
            name="notifications-worker",
        )
    )


if __name__ == "__main__":
    main()
