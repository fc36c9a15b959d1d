"""Prometheus metrics of the caches: hits and misses per layer, loads, errors, invalidations.

Label values are bounded: ``cache`` is a name chosen in code, ``layer``/``result``/``operation``/
``source``/``outcome`` come from the fixed sets below, ``topic`` from settings.
"""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["CacheMetrics", "default_cache_metrics"]


class CacheMetrics:
    """The cache metrics, registered in one ``CollectorRegistry`` (one object per registry).

    - ``cache_requests_total{cache, layer, result}``: layer ``memo|local|redis``, result
      ``hit|negative_hit|miss`` (a negative hit is a cached absence);
    - ``cache_loads_total{cache, outcome}``: loader calls, outcome ``found|absent|error``;
    - ``cache_load_duration_seconds{cache}``: loader latency;
    - ``cache_coalesced_total{cache}``: callers that joined a load already in flight;
    - ``cache_errors_total{cache, operation}``: Redis ``get|set|invalidate|lock`` failures and
      undecodable entries (``decode``); each one degraded to the next layer or the loader;
    - ``cache_invalidations_total{cache, source}``: keys invalidated after a ``write`` or on an
      ``event`` of another instance;
    - ``cache_invalidation_events_total{topic, outcome}``: events the invalidation listener read
      (``applied|ignored|malformed``);
    - ``cache_listener_up{topic}``: 1 while the listener follows its topic (local layers on).
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests_total = Counter(
            "cache_requests_total",
            "Cache lookups by cache, layer (memo, local, redis) and result.",
            ["cache", "layer", "result"],
            registry=r,
        )
        self.loads_total = Counter(
            "cache_loads_total",
            "Loader calls on a cache miss, by outcome (found, absent, error).",
            ["cache", "outcome"],
            registry=r,
        )
        self.load_duration_seconds = Histogram(
            "cache_load_duration_seconds",
            "Time spent in a cache's loader.",
            ["cache"],
            registry=r,
        )
        self.coalesced_total = Counter(
            "cache_coalesced_total",
            "Lookups that waited for a load already in flight instead of loading again.",
            ["cache"],
            registry=r,
        )
        self.errors_total = Counter(
            "cache_errors_total",
            "Cache backend failures and undecodable entries, by operation.",
            ["cache", "operation"],
            registry=r,
        )
        self.invalidations_total = Counter(
            "cache_invalidations_total",
            "Keys invalidated, by source (write, event).",
            ["cache", "source"],
            registry=r,
        )
        self.invalidation_events_total = Counter(
            "cache_invalidation_events_total",
            "Events read by a cache invalidation listener, by outcome.",
            ["topic", "outcome"],
            registry=r,
        )
        self.listener_up = Gauge(
            "cache_listener_up",
            "1 while the cache invalidation listener follows its topic, else 0.",
            ["topic"],
            registry=r,
        )


_default: CacheMetrics | None = None
_default_lock = threading.Lock()


def default_cache_metrics() -> CacheMetrics:
    """The process-wide ``CacheMetrics`` on ``prometheus_client.REGISTRY`` (what /metrics shows)."""
    global _default  # noqa: PLW0603 - one registry per process is the point
    with _default_lock:
        if _default is None:
            _default = CacheMetrics(REGISTRY)
        return _default
