"""The saga worker: sweep passed deadlines every interval.

The sweep is a :class:`~shared.periodic.PeriodicJob`: each run is counted in
``jobs_total{job, outcome}``; a failed run (database down) is logged and tried again at the
next interval, it never ends the process. Several workers may run: the sweep locks rows with
``SKIP LOCKED``. Expired Idempotency-Keys go with ``orders.housekeeping``.
``orders_saga_deadlines_held`` is 1
while the sweeper holds deadlines because the saga's path is down or recovering
(docs/runbooks/saga-deadlines.md).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import CollectorRegistry, Gauge

from orders.application.facade import OrdersUseCases
from shared.observability.metrics import Metrics, default_metrics
from shared.periodic import PeriodicJob

__all__ = ["SWEEP_JOB", "SagaWorker"]

SWEEP_JOB = "orders.sweep_deadlines"
_lock = threading.Lock()
_held: weakref.WeakKeyDictionary[CollectorRegistry, Gauge] = weakref.WeakKeyDictionary()


def _held_gauge(registry: CollectorRegistry) -> Gauge:
    # Registered once per registry: tests build many workers in one process.
    with _lock:
        gauge = _held.get(registry)
        if gauge is None:
            gauge = Gauge(
                "orders_saga_deadlines_held",
                "1 while the deadline sweeper holds saga deadlines (the saga's path is down "
                "or recovering), 0 while they count.",
                registry=registry,
            )
            _held[registry] = gauge
        return gauge


class SagaWorker:
    """Runs the deadline sweeper and the idempotency-key purge until :meth:`stop`.

    Args:
        use_cases: orders' use cases (the sweeper and the purge are used).
        sweep_interval_s: the pause between two sweeps (a full batch sweeps again at once).
        batch_size: orders handled per sweep transaction.
        purge_interval_s: the pause between two purges of expired Idempotency-Keys.
        metrics: where ``jobs_total`` and ``orders_saga_deadlines_held`` go.
        closers: what the worker's adapters opened (the saga path's Kafka clients), closed
            when :meth:`run` returns.
    """

    def __init__(
        self,
        use_cases: OrdersUseCases,
        *,
        sweep_interval_s: float = 1.0,
        batch_size: int = 100,
        metrics: Metrics | None = None,
        closers: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        self._uc = use_cases
        self._batch_size = batch_size
        self._closers = tuple(closers)
        self._held = _held_gauge((metrics or default_metrics()).registry)
        self._sweeper = PeriodicJob(
            SWEEP_JOB, self._sweep, interval_s=sweep_interval_s, metrics=metrics
        )

    @property
    def rounds(self) -> int:
        """Sweeps finished so far, succeeded or failed."""
        return self._sweeper.runs

    def stop(self) -> None:
        """Finish the runs in progress and return from :meth:`run`."""
        self._sweeper.stop()

    async def run(self) -> None:
        """Sweep every interval until stopped."""
        try:
            await self._sweeper.run()
        finally:
            for close in self._closers:
                await close()

    async def run_once(self) -> None:
        """One sweep (tests drive the worker round by round)."""
        await self._sweeper.run_once()

    async def _sweep(self) -> int:
        """Sweep every due order, batch after batch (until stopped); return how many."""
        swept = 0
        while True:
            due = await self._uc.sweep_deadlines(batch=self._batch_size)
            self._held.set(0 if self._uc.sweep_deadlines.last_hold_reason is None else 1)
            swept += due
            if due < self._batch_size or self._sweeper.stopping:
                return swept
