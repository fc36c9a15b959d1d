"""The saga worker's loop: sweep passed deadlines every interval, purge expired keys now and then.

Each round is counted in ``jobs_total{job, outcome}``; a failed round (database down) is logged
and retried at the next interval, it never ends the process. Several workers may run: the sweep
locks rows with ``SKIP LOCKED`` and the purge is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from orders.application.facade import OrdersUseCases
from shared.observability.metrics import Metrics, default_metrics

__all__ = ["PURGE_JOB", "SWEEP_JOB", "SagaWorker"]

log = structlog.get_logger(__name__)

SWEEP_JOB = "orders.sweep_deadlines"
PURGE_JOB = "orders.purge_idempotency_keys"


class SagaWorker:
    """Runs the deadline sweeper and the idempotency-key purge until :meth:`stop`.

    Args:
        use_cases: orders' use cases (the sweeper and the purge are used).
        sweep_interval_s: the pause between two sweeps (a full batch sweeps again at once).
        batch_size: orders handled per sweep transaction.
        purge_interval_s: the pause between two purges of expired Idempotency-Keys.
        metrics: where ``jobs_total`` goes.
    """

    def __init__(
        self,
        use_cases: OrdersUseCases,
        *,
        sweep_interval_s: float = 1.0,
        batch_size: int = 100,
        purge_interval_s: float = 300.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._uc = use_cases
        self._sweep_interval_s = sweep_interval_s
        self._batch_size = batch_size
        self._purge_interval_s = purge_interval_s
        self._metrics = metrics or default_metrics()
        self._stopping = asyncio.Event()
        self._next_purge = 0.0
        self.rounds = 0

    def stop(self) -> None:
        """Finish the current round and return from :meth:`run`."""
        self._stopping.set()

    async def run(self) -> None:
        """Sweep and purge until stopped."""
        while not self._stopping.is_set():
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._sweep_interval_s)

    async def run_once(self) -> None:
        """One round: sweep every due order (batch after batch), purge when it is time."""
        await self._job(SWEEP_JOB, self._sweep)
        if time.monotonic() >= self._next_purge and await self._job(PURGE_JOB, self._purge):
            self._next_purge = time.monotonic() + self._purge_interval_s
        self.rounds += 1

    async def _sweep(self) -> None:
        swept = 0
        while not self._stopping.is_set():
            due = await self._uc.sweep_deadlines(batch=self._batch_size)
            swept += due
            if due < self._batch_size:
                break
        if swept:
            log.info("orders.deadlines_swept", orders=swept)

    async def _purge(self) -> None:
        purged = await self._uc.purge_idempotency_keys()
        if purged:
            log.info("orders.idempotency_keys_purged", records=purged)

    async def _job(self, name: str, job: Callable[[], Awaitable[None]]) -> bool:
        try:
            await job()
        except Exception as exc:
            self._metrics.jobs_total.labels(job=name, outcome="failed").inc()
            log.error("orders.job_failed", job=name, exc_info=exc)
            return False
        self._metrics.jobs_total.labels(job=name, outcome="succeeded").inc()
        return True
