from __future__ import annotations

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry

from shared.observability import Metrics, default_metrics


def _requests(metrics: Metrics, route: str, method: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "http_requests_total", {"route": route, "method": method, "status": status}
    )
    return value or 0.0


async def test_requests_are_counted_by_route_template(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    for order_id in (1, 2, 3):
        await client.get(f"/orders/{order_id}")

    assert _requests(metrics, "/orders/{order_id}", "GET", "200") == 3
    assert (
        metrics.registry.get_sample_value(
            "http_request_duration_seconds_count", {"route": "/orders/{order_id}", "method": "GET"}
        )
        == 3
    )
    text = (await client.get("/metrics")).text
    assert 'route="/orders/1"' not in text


async def test_unmatched_paths_share_one_label(client: httpx.AsyncClient, metrics: Metrics) -> None:
    await client.get("/scan/a")
    await client.get("/scan/b")

    assert _requests(metrics, "<unmatched>", "GET", "404") == 2


async def test_unknown_methods_share_one_label(client: httpx.AsyncClient, metrics: Metrics) -> None:
    await client.request("BREW", "/ok")

    assert _requests(metrics, "/ok", "_OTHER", "405") == 1


async def test_server_errors_are_counted(client: httpx.AsyncClient, metrics: Metrics) -> None:
    await client.get("/raise/bug")
    await client.get("/raise/dependency")
    await client.get("/raise/not_found")

    errors = metrics.registry.get_sample_value(
        "http_request_errors_total", {"route": "/raise/{kind}", "method": "GET"}
    )
    assert errors == 2
    assert _requests(metrics, "/raise/{kind}", "GET", "500") == 1
    assert _requests(metrics, "/raise/{kind}", "GET", "503") == 1
    assert _requests(metrics, "/raise/{kind}", "GET", "404") == 1


async def test_probes_and_scrapes_are_not_counted(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    await client.get("/health/live")
    await client.get("/health/ready")
    await client.get("/metrics")

    assert metrics.registry.get_sample_value("http_requests_total", {}) is None
    assert _requests(metrics, "/health/live", "GET", "200") == 0
    assert _requests(metrics, "/metrics", "GET", "200") == 0


async def test_the_metrics_endpoint_serves_the_catalogue(
    client: httpx.AsyncClient, metrics: Metrics
) -> None:
    metrics.outbox_backlog.labels(service="orders").set(12)
    metrics.breaker_state.labels(name="payments").set(2)

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "http_requests_total",
        "http_request_duration_seconds",
        "http_request_errors_total",
        "consumer_lag",
        "consumer_handle_duration_seconds",
        "outbox_backlog",
        "outbox_oldest_unpublished_age_seconds",
        "dead_letters_total",
        "breaker_state",
        "breaker_transitions_total",
        "jobs_total",
    ):
        assert f"# HELP {name} " in response.text, name
    assert 'outbox_backlog{service="orders"} 12.0' in response.text
    assert 'breaker_state{name="payments"} 2.0' in response.text


async def test_the_metrics_endpoint_speaks_openmetrics(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )

    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")


def test_metrics_on_separate_registries_are_independent() -> None:
    first, second = Metrics(CollectorRegistry()), Metrics(CollectorRegistry())
    first.jobs_total.labels(job="import", outcome="succeeded").inc()

    labels = {"job": "import", "outcome": "succeeded"}
    assert first.registry.get_sample_value("jobs_total", labels) == 1
    assert second.registry.get_sample_value("jobs_total", labels) is None


def test_one_registry_holds_one_catalogue() -> None:
    registry = CollectorRegistry()
    Metrics(registry)

    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry)


def test_the_process_default_is_a_singleton_on_the_global_registry() -> None:
    assert default_metrics() is default_metrics()
    assert default_metrics().registry is REGISTRY
