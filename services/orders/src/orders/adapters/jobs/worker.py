"""The saga worker: sweep passed deadlines every interval, purge expired keys now and then.

Two :class:`~shared.periodic.PeriodicJob` s run side by side: each run is counted in
``jobs_total{job, outcome}``; a failed run (database down) is logged and tried again at the
next interval, it never ends the process. Several workers may run: the sweep locks rows with
``SKIP LOCKED`` and the purge is one idempotent DELETE.
"""

from __future__ import annotations

import asyncio

from orders.application.facade import OrdersUseCases
from shared.observability.metrics import Metrics
from shared.periodic import PeriodicJob

__all__ = ["PURGE_JOB", "SWEEP_JOB", "SagaWorker"]

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
        self._batch_size = batch_size
        self._sweeper = PeriodicJob(
            SWEEP_JOB, self._sweep, interval_s=sweep_interval_s, metrics=metrics
        )
        self._purger = PeriodicJob(
            PURGE_JOB, self._uc.purge_idempotency_keys, interval_s=purge_interval_s, metrics=metrics
        )

    @property
    def rounds(self) -> int:
        """Sweeps finished so far, succeeded or failed."""
        return self._sweeper.runs

    def stop(self) -> None:
        """Finish the runs in progress and return from :meth:`run`."""
        self._sweeper.stop()
        self._purger.stop()

    async def run(self) -> None:
        """Sweep and purge, each every its interval, until stopped."""
        await asyncio.gather(self._sweeper.run(), self._purger.run())

    async def run_once(self) -> None:
        """One sweep, and the first purge (tests drive the worker round by round)."""
        await self._sweeper.run_once()
        if self._purger.runs == 0:
            await self._purger.run_once()

    async def _sweep(self) -> int:
        """Sweep every due order, batch after batch (until stopped); return how many."""
        swept = 0
        while True:
            due = await self._uc.sweep_deadlines(batch=self._batch_size)
            swept += due
            if due < self._batch_size or self._sweeper.stopping:
                return swept
