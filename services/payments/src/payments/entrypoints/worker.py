"""Payments' worker: ``ordo-payments-worker``, the only process that calls the provider.

Claims due payments (woken by the consumer's NOTIFY, else by polling), authorises or voids them
with the provider outside any transaction, records each outcome and its event, and serves
``/health/live``, ``/health/ready`` and ``/metrics`` (``breaker_state``, ``jobs_total``) on
``ORDO_WORKER_HEALTH_PORT`` (8304). On SIGTERM the health server stops, then the payments in
flight finish and the worker exits.
"""

from __future__ import annotations

from importlib.metadata import version

from payments.bootstrap import PaymentsSettings, build_worker
from shared.http import serve_with_worker
from shared.observability import configure_process
from shared.runtime import run


def main() -> None:
    """Read settings, configure logging and tracing, work until SIGTERM."""
    settings = PaymentsSettings()
    configure_process(settings, version("ordo-payments"), "worker")
    run(_serve(settings))


async def _serve(settings: PaymentsSettings) -> None:
    worker, health = build_worker(settings)
    await serve_with_worker(
        worker.run(),
        worker.stop,
        health,
        host=settings.http_host,
        port=settings.worker_health_port,
        name="payments-worker",
    )


if __name__ == "__main__":
    main()
