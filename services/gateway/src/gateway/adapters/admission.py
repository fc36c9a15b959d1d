"""Admission control of the calls to one service: the adaptive limit, a short wait, metrics.

A call is admitted while fewer than the limit (``gateway.domain.admission``) are in flight to
its service. Beyond it, a call may wait in a small FIFO queue for at most ``max_wait_s`` (a
burst is smoothed, not refused), and is refused with :class:`UpstreamOverloadedError` when the
queue is full or the wait runs out. A refused call never reaches the service, so nothing is
stored and its Idempotency-Key stays free for the retry the 503 asks for.

:meth:`Admission.check` is the early refusal: the routes call it before rate limits, token and
contract checks, so a request that would be refused costs no Redis round trip and no parsing.

Metrics (read at scrape time, nothing per request but the shed counter)::

    gateway_shed_total{upstream,reason}     refused calls; reason "limit" or "queue_timeout"
    gateway_concurrency_limit{upstream}     the current limit
    gateway_inflight{upstream}              calls in flight
    gateway_admission_queue{upstream}       calls waiting
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gateway.adapters.upstream import UpstreamOverloadedError
from gateway.domain.admission import AdaptiveLimit, LimitPolicy, Outcome, Permit

__all__ = ["Admission", "track_admissions"]


class Admission:
    """Admission of the calls to one service.

    Args:
        name: the service (metric label, error details).
        policy: the limit's bounds and pace.
        queue_size: how many calls may wait for a slot (0: refuse at once).
        max_wait_s: the longest wait in the queue.
        retry_after_s: the Retry-After of a refusal.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        name: str,
        policy: LimitPolicy,
        *,
        queue_size: int = 0,
        max_wait_s: float = 0.0,
        retry_after_s: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.limit = AdaptiveLimit(policy, now=clock())
        self.shed: dict[str, int] = {"limit": 0, "queue_timeout": 0}
        self._queue_size = queue_size if max_wait_s > 0 else 0
        self._max_wait_s = max_wait_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._waiters: deque[asyncio.Future[Permit]] = deque()

    @property
    def waiting(self) -> int:
        """Calls waiting in the queue."""
        return len(self._waiters)

    def check(self) -> None:
        """Refuse now if a call would be refused anyway (the limit reached, the queue full)."""
        if self.limit.is_full() and len(self._waiters) >= self._queue_size:
            raise self._refuse("limit")

    async def acquire(self) -> Permit:
        """Admit one call, after a short wait at most; raise UpstreamOverloadedError if not."""
        permit = self.limit.try_acquire(self._clock())
        if permit is not None:
            return permit
        if len(self._waiters) >= self._queue_size:
            raise self._refuse("limit")
        return await self._wait()

    def release(self, permit: Permit, outcome: Outcome) -> None:
        """End an admitted call; hand its slot to the longest waiter, if any."""
        now = self._clock()
        self.limit.release(permit, now, outcome)
        while self._waiters and not self.limit.is_full():
            waiter = self._waiters.popleft()
            if not waiter.done():
                handed = self.limit.try_acquire(now)
                if handed is not None:
                    waiter.set_result(handed)

    async def _wait(self) -> Permit:
        waiter: asyncio.Future[Permit] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self._max_wait_s):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed a slot just as the wait ended: give it back unused.
                self.release(waiter.result(), Outcome.IGNORED)
            else:
                waiter.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise self._refuse("queue_timeout") from None
            raise

    def _refuse(self, reason: str) -> UpstreamOverloadedError:
        self.shed[reason] += 1
        return UpstreamOverloadedError(self.name, retry_after_s=self._retry_after_s)


class _AdmissionCollector(Collector):
    """Reads the admissions of the app built last at each scrape."""

    def __init__(self) -> None:
        self.admissions: Mapping[str, Admission] = {}

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        shed = CounterMetricFamily(
            "gateway_shed", "Calls refused by admission control.", labels=["upstream", "reason"]
        )
        limit = GaugeMetricFamily(
            "gateway_concurrency_limit", "Adaptive concurrency limit.", labels=["upstream"]
        )
        in_flight = GaugeMetricFamily(
            "gateway_inflight", "Calls in flight to the upstream.", labels=["upstream"]
        )
        waiting = GaugeMetricFamily(
            "gateway_admission_queue", "Calls waiting for a slot.", labels=["upstream"]
        )
        for name, admission in self.admissions.items():
            for reason, count in admission.shed.items():
                shed.add_metric([name, reason], count)
            limit.add_metric([name], admission.limit.limit)
            in_flight.add_metric([name], admission.limit.in_flight)
            waiting.add_metric([name], admission.waiting)
        yield from (shed, limit, in_flight, waiting)


_collectors: WeakKeyDictionary[CollectorRegistry, _AdmissionCollector] = WeakKeyDictionary()


def track_admissions(registry: CollectorRegistry, admissions: Mapping[str, Admission]) -> None:
    """Export ``admissions`` in ``registry`` (replacing those of an app built before)."""
    collector = _collectors.get(registry)
    if collector is None:
        collector = _AdmissionCollector()
        registry.register(collector)
        _collectors[registry] = collector
    collector.admissions = dict(admissions)
