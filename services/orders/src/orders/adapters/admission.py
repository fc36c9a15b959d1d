"""Saga backpressure in orders-api: a background measurement and a flag that requests read.

``POST /orders`` asks :meth:`SagaAdmission.check`, which reads the decision in force: no query
per request. A task measures the saga's backlog every ``interval_s`` (one cheap statement,
:mod:`orders.adapters.persistence.saga_load`) and decides with the policy of
:mod:`orders.application.admission`. The first order after a quiet spell measures once itself
(concurrent ones share that measurement) and starts the task, which stops once no order has
arrived for ``idle_after_s``: an idle orders-api does not poll. A decision older than
``stale_after_s`` (the database cannot be measured) admits: the order then meets the database's
own 503.

The feature flag ``orders.saga-backpressure`` (docs/flags.md), off for an org, takes that
org's orders whatever the backlog: a tenant whose orders must never be refused, or a way to
roll the refusal out tenant by tenant.

Metrics: ``orders_shed_total{reason}`` (refused orders), ``orders_saga_backlog_age_seconds
{signal}`` (the latest measurement) and ``orders_admission_open`` (1 taking orders, 0 not).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from orders.application.admission import (
    ADMIT,
    OUTBOX_AGE,
    SAGA_LAG,
    AdmissionDecision,
    AdmissionPolicy,
    OrdersOverloadedError,
    SagaLoad,
    decide,
)
from shared.flags import FeatureFlags, StaticFlags
from shared.observability.metrics import Metrics, default_metrics

__all__ = ["BACKPRESSURE_FLAG", "SagaAdmission"]

BACKPRESSURE_FLAG = "orders.saga-backpressure"

log = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[SagaLoad]]

_lock = threading.Lock()
_series: weakref.WeakKeyDictionary[CollectorRegistry, tuple[Counter, Gauge, Gauge]] = (
    weakref.WeakKeyDictionary()
)


def _metrics(registry: CollectorRegistry) -> tuple[Counter, Gauge, Gauge]:
    # Registered once per registry: tests build many apps in one process.
    with _lock:
        found = _series.get(registry)
        if found is None:
            found = (
                Counter(
                    "orders_shed_total",
                    "New orders refused with 503 because the saga is behind, by reason.",
                    ["reason"],
                    registry=registry,
                ),
                Gauge(
                    "orders_saga_backlog_age_seconds",
                    "The saga's backlog as admission last measured it: saga_lag (orders "
                    "waiting for their stock step) and outbox_age (unpublished outbox rows).",
                    ["signal"],
                    registry=registry,
                ),
                Gauge(
                    "orders_admission_open",
                    "1 while orders-api takes new orders, 0 while it refuses them.",
                    registry=registry,
                ),
            )
            _series[registry] = found
        return found


class SagaAdmission:
    """Implements orders' ``Admission`` port from a background measurement of the saga.

    Args:
        probe: measures the saga's backlog (one database round trip).
        policy: thresholds, hysteresis and ``Retry-After``.
        interval_s: the pause between two measurements while orders arrive.
        idle_after_s: stop measuring once no order has been checked for this long.
        stale_after_s: a decision older than this admits (the probe keeps failing).
        probe_timeout_s: the longest one measurement may take (it counts as failed beyond).
        metrics: the registry's owner; the process default when omitted.
        flags: where ``orders.saga-backpressure`` is read, per org (default: on for everyone).
    """

    def __init__(
        self,
        probe: Probe,
        policy: AdmissionPolicy,
        *,
        interval_s: float = 0.25,
        idle_after_s: float = 10.0,
        stale_after_s: float = 5.0,
        probe_timeout_s: float = 1.0,
        metrics: Metrics | None = None,
        flags: FeatureFlags | None = None,
    ) -> None:
        self._flags = flags or StaticFlags()
        if min(interval_s, idle_after_s, stale_after_s, probe_timeout_s) <= 0:
            raise ValueError("admission intervals must be positive")
        self._probe_timeout_s = probe_timeout_s
        self._probe, self._policy = probe, policy
        self._interval_s, self._idle_after_s = interval_s, idle_after_s
        self._stale_after_s = stale_after_s
        self._decision: AdmissionDecision = ADMIT
        self._measured_at = -math.inf
        self._last_check = -math.inf
        self._probe_failing = False
        self._task: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()
        shed, backlog, open_ = _metrics((metrics or default_metrics()).registry)
        self._shed = {reason: shed.labels(reason=reason) for reason in (SAGA_LAG, OUTBOX_AGE)}
        self._backlog = {s: backlog.labels(signal=s) for s in (SAGA_LAG, OUTBOX_AGE)}
        self._open = open_
        self._open.set(1)

    @property
    def decision(self) -> AdmissionDecision:
        """The decision in force (ADMIT when it is stale)."""
        if time.monotonic() - self._measured_at > self._stale_after_s:
            return ADMIT
        return self._decision

    async def check(self, org_id: uuid.UUID | None = None) -> None:
        """Return if a new order may be placed; raise ``OrdersOverloadedError`` (503) if not."""
        if not self._policy.enabled:
            return
        if org_id is not None and not self._flags.enabled(
            BACKPRESSURE_FLAG, org_id=org_id, default=True
        ):
            return
        self._last_check = time.monotonic()
        if self._task is None or self._task.done():
            await self._start()
        decision = self.decision
        if decision.admit:
            return
        reason = decision.reason or SAGA_LAG
        self._shed[reason].inc()
        raise OrdersOverloadedError(
            retry_after=self._policy.retry_after_s, details={"reason": reason}
        )

    async def refresh(self) -> AdmissionDecision:
        """Measure once and decide (the background task's step; tests call it directly)."""
        try:
            async with asyncio.timeout(self._probe_timeout_s):
                load = await self._probe()
        except Exception as exc:
            if not self._probe_failing:
                log.warning("orders.admission.probe_failed", error=type(exc).__name__)
            self._probe_failing = True
            return self.decision
        self._probe_failing = False
        previous = self.decision
        self._measured_at = time.monotonic()
        self._backlog[SAGA_LAG].set(load.saga_lag_s)
        self._backlog[OUTBOX_AGE].set(load.outbox_age_s)
        decision = decide(self._policy, load, previous)
        if decision != previous:
            (log.info if decision.admit else log.warning)(
                "orders.admission.changed",
                admit=decision.admit,
                reason=decision.reason,
                saga_lag_s=round(load.saga_lag_s, 3),
                outbox_age_s=round(load.outbox_age_s, 3),
            )
            self._open.set(1 if decision.admit else 0)
        self._decision = decision
        return decision

    async def close(self) -> None:
        """Stop the background measurement."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _start(self) -> None:
        async with self._starting:
            if self._task is not None and not self._task.done():
                return  # a concurrent first order measured and started it meanwhile
            await self.refresh()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="orders-admission"
            )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            if time.monotonic() - self._last_check >= self._idle_after_s:
                return
            await self.refresh()
