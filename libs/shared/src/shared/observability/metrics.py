"""Prometheus metrics: one :class:`Metrics` object per registry, one registry per process.

Every metric the chassis records is declared here, so the catalogue (and its label sets, which
bound cardinality) is reviewed in one place. Production code takes the process default from
:func:`default_metrics`; tests build ``Metrics(CollectorRegistry())`` and read it back with
``registry.get_sample_value(...)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DEFAULT_EXCLUDED_PATHS",
    "UNMATCHED_ROUTE",
    "HttpMetricsMiddleware",
    "Metrics",
    "default_metrics",
    "metrics_endpoint",
    "route_template",
]

UNMATCHED_ROUTE = "<unmatched>"
# Probes and scrapes arrive every few seconds per instance and would dominate the latency
# histograms of a quiet service.
DEFAULT_EXCLUDED_PATHS = frozenset({"/metrics", "/health/live", "/health/ready"})
_KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


class Metrics:
    """Every Prometheus metric of an Ordo process, registered in one ``CollectorRegistry``.

    Args:
        registry: where to register; a fresh private registry when omitted. Registering the
            same names twice in one registry raises, so build one ``Metrics`` per registry.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests_total = Counter(
            "http_requests_total",
            "HTTP requests served, by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_request_duration_seconds = Histogram(
            "http_request_duration_seconds",
            "Time from request received to response sent, by route template and method.",
            ["route", "method"],
            registry=r,
        )
        self.http_request_errors_total = Counter(
            "http_request_errors_total",
            "HTTP requests that ended in a 5xx response or an unhandled exception.",
            ["route", "method"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "consumer_lag",
            "Messages between the committed offset and the end of the partition.",
            ["topic", "partition", "group"],
            registry=r,
        )
        self.consumer_handle_duration_seconds = Histogram(
            "consumer_handle_duration_seconds",
            "Time to handle one consumed message, by outcome "
            "(ok, duplicate, ignored, parked, retry, dead_letter).",
            ["topic", "group", "outcome"],
            registry=r,
        )
        self.consumer_batch_size = Histogram(
            "consumer_batch_size",
            "Records of one partition applied together in one transaction.",
            ["topic", "group"],
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "outbox_backlog",
            "Outbox rows committed but not yet published.",
            ["service"],
            registry=r,
        )
        self.outbox_oldest_unpublished_age_seconds = Gauge(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox row (0 when the backlog is empty).",
            ["service"],
            registry=r,
        )
        self.dead_letters_total = Counter(
            "dead_letters_total",
            "Messages sent to a dead-letter topic, by source topic and error code.",
            ["topic", "code"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["name"],
            registry=r,
        )
        self.breaker_transitions_total = Counter(
            "breaker_transitions_total",
            "Circuit breaker state changes.",
            ["name", "from_state", "to_state"],
            registry=r,
        )
        self.jobs_total = Counter(
            "jobs_total",
            "Background job runs, by job name and outcome (succeeded, failed, cancelled).",
            ["job", "outcome"],
            registry=r,
        )
        # Long-running jobs (shared.jobs), measured by their workers from the jobs table.
        self.jobs_running = Gauge(
            "jobs_running",
            "Jobs (shared.jobs) in state running, by kind, as a worker last measured.",
            ["job"],
            registry=r,
        )
        self.jobs_heartbeat_age_seconds = Gauge(
            "jobs_heartbeat_age_seconds",
            "Seconds since the stalest heartbeat among running jobs of a kind (0: none runs).",
            ["job"],
            registry=r,
        )

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """Return the exposition body and its content type, negotiated from an Accept header."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


_default: Metrics | None = None
_default_lock = threading.Lock()


def default_metrics() -> Metrics:
    """Return the process-wide ``Metrics``, built on first use on ``prometheus_client.REGISTRY``.

    The global registry also carries the client's process and GC collectors.
    """
    global _default  # noqa: PLW0603 - one registry per process is the point
    with _default_lock:
        if _default is None:
            _default = Metrics(REGISTRY)
        return _default


def route_template(scope: Scope) -> str:
    """Return the matched route's template (``/orders/{order_id}``), or ``<unmatched>``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


class HttpMetricsMiddleware:
    """Pure ASGI middleware recording request count, latency and 5xx errors per route template.

    The route label is the template the router matched, never the raw path: raw paths carry
    ids and would give every order its own time series.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics | None = None,
        exclude_paths: Iterable[str] = DEFAULT_EXCLUDED_PATHS,
    ) -> None:
        self.app = app
        self.metrics = metrics if metrics is not None else default_metrics()
        self.exclude_paths = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request and record its metrics, including when the app raises."""
        if scope["type"] != "http" or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, elapsed: float) -> None:
        route = route_template(scope)
        method = scope.get("method", "")
        method = method if method in _KNOWN_METHODS else "_OTHER"
        m = self.metrics
        m.http_requests_total.labels(route=route, method=method, status=str(status)).inc()
        m.http_request_duration_seconds.labels(route=route, method=method).observe(elapsed)
        if status >= 500:
            m.http_request_errors_total.labels(route=route, method=method).inc()


def metrics_endpoint(metrics: Metrics | None = None) -> Callable[[Request], Awaitable[Response]]:
    """Return a Starlette endpoint serving ``metrics`` in the format the scraper asks for."""
    source = metrics if metrics is not None else default_metrics()

    async def endpoint(request: Request) -> Response:
        body, content_type = source.render(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    return endpoint
