"""The relay's Prometheus series: the chassis' backlog gauges plus the relay's own counters.

The backlog gauges live in :class:`shared.observability.metrics.Metrics`, which every alert
rule reads. The counters below are relay-only; they are registered once per registry next to
them (``shared.observability`` has no slot for them yet).
"""

from __future__ import annotations

import threading
import weakref

from prometheus_client import CollectorRegistry, Counter, Gauge

from shared.observability.metrics import Metrics

__all__ = ["RelayMetrics"]

_lock = threading.Lock()
_extra: weakref.WeakKeyDictionary[CollectorRegistry, tuple[Counter, Counter, Gauge]] = (
    weakref.WeakKeyDictionary()
)


def _relay_series(registry: CollectorRegistry) -> tuple[Counter, Counter, Gauge]:
    with _lock:
        series = _extra.get(registry)
        if series is None:
            series = (
                Counter(
                    "outbox_published_total",
                    "Outbox rows published and marked, by service.",
                    ["service"],
                    registry=registry,
                ),
                Counter(
                    "outbox_publish_failures_total",
                    "Publish rounds in which a lane stopped at a failed row, by service.",
                    ["service"],
                    registry=registry,
                ),
                Gauge(
                    "outbox_lanes_owned",
                    "Ordering lanes this relay replica owns.",
                    ["service"],
                    registry=registry,
                ),
            )
            _extra[registry] = series
        return series


class RelayMetrics:
    """Records what one relay replica does, under the ``service`` label."""

    def __init__(self, metrics: Metrics, service: str) -> None:
        """Bind the series of ``metrics``' registry to ``service``."""
        published, failures, lanes = _relay_series(metrics.registry)
        self._backlog = metrics.outbox_backlog.labels(service=service)
        self._age = metrics.outbox_oldest_unpublished_age_seconds.labels(service=service)
        self._published = published.labels(service=service)
        self._failures = failures.labels(service=service)
        self._lanes = lanes.labels(service=service)

    def backlog(self, rows: int, oldest_age_s: float) -> None:
        """Set the backlog gauges (rows not yet published, age of the oldest)."""
        self._backlog.set(rows)
        self._age.set(oldest_age_s)

    def published(self, rows: int) -> None:
        """Count rows marked published."""
        if rows:
            self._published.inc(rows)

    def failed(self, lanes: int) -> None:
        """Count lanes stopped by a failure in a round."""
        if lanes:
            self._failures.inc(lanes)

    def lanes_owned(self, lanes: int) -> None:
        """Set how many lanes this replica owns."""
        self._lanes.set(lanes)
