"""Orders' saga worker: ``ordo-orders-worker``.

Times out saga steps whose deadline passed (``stock_timeout``, ``payment_timeout``; a cancelling
order asks for its compensations again) and purges expired Idempotency-Keys, and serves
``/health/live``, ``/health/ready`` and ``/metrics`` on ``ORDO_WORKER_HEALTH_PORT`` (8303).
On SIGTERM the health server stops, then the worker finishes its round and exits.
"""

from __future__ import annotations

from importlib.metadata import version

from orders.bootstrap import OrdersSettings, WorkerProcess, build_worker
from shared.http import serve_with_worker
from shared.observability import configure_process
from shared.runtime import run


async def _serve(process: WorkerProcess, settings: OrdersSettings) -> None:
    try:
        await serve_with_worker(
            process.worker.run(),
            process.worker.stop,
            process.health,
            host=settings.http_host,
            port=settings.worker_health_port,
            name="orders-worker",
        )
    finally:
        await process.close()


def main() -> None:
    """Read settings, configure logging and tracing, sweep until SIGTERM."""
    settings = OrdersSettings()
    configure_process(settings, version("ordo-orders"), "worker")
    run(_serve(build_worker(settings), settings))


if __name__ == "__main__":
    main()
