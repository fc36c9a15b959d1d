"""Generate Ordo's Grafana dashboards as code: one per service and one for the order saga.

The dashboards are plain Grafana JSON models (schema 39) built from the dicts below and written
to infra/dashboards/generated/, committed. Edit this file, never the JSON: a test regenerates
them and fails on drift, checks that every query parses (promtool) and names only metrics our
processes export. Import a file in Grafana (Dashboards -> New -> Import) and pick a Prometheus
data source; Grafana itself is not a dependency of ours.

Usage: python3 infra/dashboards/generate.py [--check] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "generated"
SERVICES = ("gateway", "identity", "catalog", "orders", "payments", "notifications")
DS = {"type": "prometheus", "uid": "${datasource}"}
WIDTH, HEIGHT = 12, 8

Panel = dict[str, Any]


def panel(title: str, *queries: tuple[str, str], unit: str = "short", desc: str = "") -> Panel:
    """A time series panel; ``queries`` are (PromQL, legend) pairs."""
    return {
        "type": "timeseries",
        "title": title,
        "description": desc,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["max"]}},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def row(title: str) -> Panel:
    """A row header."""
    return {"type": "row", "title": title, "collapsed": False, "panels": []}


def http_panels(svc: str) -> list[Panel]:
    """Request rate, 5xx ratio and latency quantiles of one service's HTTP routes."""
    sel = f'service="{svc}"'
    quantiles = [
        (
            f"histogram_quantile({q}, sum by (le) "
            f"(rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))",
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    ]
    return [
        row("HTTP"),
        panel(
            "Requests by route and status",
            (
                f"sum by (route, status) (rate(http_requests_total{{{sel}}}[5m]))",
                "{{route}} {{status}}",
            ),
            unit="reqps",
        ),
        panel(
            "5xx ratio",
            (
                f"sum(rate(http_request_errors_total{{{sel}}}[5m])) "
                f"/ sum(rate(http_requests_total{{{sel}}}[5m]))",
                "5xx",
            ),
            unit="percentunit",
            desc="Alert High5xxRate fires above 5% for 5 minutes.",
        ),
        panel("Latency", *quantiles, unit="s"),
        panel(
            "p99 latency by route",
            (
                f"histogram_quantile(0.99, sum by (route, le) "
                f"(rate(http_request_duration_seconds_bucket{{{sel}}}[5m])))",
                "{{route}}",
            ),
            unit="s",
        ),
    ]


def messaging_panels(svc: str) -> list[Panel]:
    """Consumer lag and handling, outbox backlog and publishing, dead letters."""
    sel = f'service="{svc}"'
    return [
        row("Messaging"),
        panel(
            "Consumer lag by group and topic",
            (
                f"sum by (group, topic) (max by (group, topic, partition) (consumer_lag{{{sel}}}))",
                "{{group}} {{topic}}",
            ),
            desc="Alert ConsumerLagHigh fires above 1000 for 10 minutes.",
        ),
        panel(
            "Messages handled by outcome",
            (
                f"sum by (topic, outcome) "
                f"(rate(consumer_handle_duration_seconds_count{{{sel}}}[5m]))",
                "{{topic}} {{outcome}}",
            ),
            unit="ops",
        ),
        panel(
            "Handling time p99",
            (
                f"histogram_quantile(0.99, sum by (topic, le) "
                f"(rate(consumer_handle_duration_seconds_bucket{{{sel}}}[5m])))",
                "{{topic}}",
            ),
            unit="s",
        ),
        panel(
            "Records per batch (mean)",
            (
                f"sum by (topic) (rate(consumer_batch_size_sum{{{sel}}}[5m])) "
                f"/ sum by (topic) (rate(consumer_batch_size_count{{{sel}}}[5m]))",
                "{{topic}}",
            ),
        ),
        panel(
            "Outbox backlog",
            (f"max(outbox_backlog{{{sel}}})", "unpublished rows"),
        ),
        panel(
            "Oldest unpublished outbox row",
            (f"max(outbox_oldest_unpublished_age_seconds{{{sel}}})", "age"),
            unit="s",
            desc="Alert OutboxStuck fires above 60 s for 5 minutes.",
        ),
        panel(
            "Outbox published and failures",
            (f"sum(rate(outbox_published_total{{{sel}}}[5m]))", "published"),
            (f"sum(rate(outbox_publish_failures_total{{{sel}}}[5m]))", "failures"),
            unit="ops",
        ),
        panel(
            "Dead letters",
            (
                f"sum by (topic, code) (increase(dead_letters_total{{{sel}}}[15m]))",
                "{{topic}} {{code}}",
            ),
            desc="Records sent to <topic>.dlq; inspect and replay with `ordo dlq`.",
        ),
    ]


def resilience_panels(svc: str) -> list[Panel]:
    """Breakers, periodic jobs, and the process itself."""
    sel = f'service="{svc}"'
    return [
        row("Resilience, jobs, process"),
        panel(
            "Circuit breakers (0 closed, 1 half-open, 2 open)",
            (f"max by (name) (breaker_state{{{sel}}})", "{{name}}"),
        ),
        panel(
            "Periodic job runs by outcome",
            (
                f"sum by (exported_job, outcome) (rate(jobs_total{{{sel}}}[5m]))",
                "{{exported_job}} {{outcome}}",
            ),
            unit="ops",
        ),
        panel(
            "CPU per process",
            (f"rate(process_cpu_seconds_total{{{sel}}}[5m])", "{{job}}"),
            unit="percentunit",
        ),
        panel(
            "Resident memory per process",
            (f"process_resident_memory_bytes{{{sel}}}", "{{job}}"),
            unit="bytes",
        ),
    ]


def own_panels(svc: str) -> list[Panel]:
    """Panels for the metrics only one service exports."""
    if svc == "gateway":
        return [
            row("Admission control"),
            panel(
                "Calls shed",
                (
                    "sum by (upstream, reason) (rate(gateway_shed_total[5m]))",
                    "{{upstream}} {{reason}}",
                ),
                unit="ops",
            ),
            panel(
                "In flight vs limit",
                ("max by (upstream) (gateway_inflight)", "{{upstream}} in flight"),
                ("max by (upstream) (gateway_concurrency_limit)", "{{upstream}} limit"),
                ("max by (upstream) (gateway_admission_queue)", "{{upstream}} waiting"),
            ),
        ]
    if svc == "catalog":
        return [
            row("Caches"),
            panel(
                "Cache requests by outcome",
                (
                    'sum by (cache, outcome) (rate(cache_requests_total{service="catalog"}[5m]))',
                    "{{cache}} {{outcome}}",
                ),
                unit="ops",
            ),
        ]
    if svc == "orders":
        return [row("Saga admission"), *saga_admission_panels()]
    if svc == "payments":
        return [
            row("Money held for cancelled orders"),
            panel(
                "Payments voiding",
                ("max(payments_held_for_cancelled_orders)", "voiding"),
                desc="Alerts in infra/prometheus/rules/payments.yml.",
            ),
            panel(
                "Oldest voiding payment",
                ("max(payments_held_for_cancelled_orders_oldest_age_seconds)", "age"),
                unit="s",
            ),
        ]
    return []


def saga_admission_panels() -> list[Panel]:
    """orders-api's view of the saga: backlog ages, admission state, orders shed."""
    return [
        panel(
            "Saga backlog age",
            ("max by (signal) (orders_saga_backlog_age_seconds)", "{{signal}}"),
            unit="s",
            desc="saga_lag: oldest order waiting for its stock step (the saga SLI, > 5 s is late).",
        ),
        panel("Admission open (1) / refusing (0)", ("min(orders_admission_open)", "open")),
        panel(
            "Orders shed",
            ("sum by (reason) (rate(orders_shed_total[5m]))", "{{reason}}"),
            unit="ops",
        ),
        panel(
            "Deadlines held (1: the saga's path is down)",
            ("max(orders_saga_deadlines_held)", "held"),
        ),
    ]


def saga_dashboard() -> list[Panel]:
    """The order saga end to end: orders in, each hop's lag and backlog, SLO burn."""
    hops = ("orders", "catalog", "payments")
    return [
        row("Orders in"),
        panel(
            "Orders placed (201) and refused (503)",
            (
                'sum(rate(http_requests_total{service="orders",route="/orders",method="POST",'
                'status="201"}[5m]))',
                "placed",
            ),
            (
                'sum(rate(http_requests_total{service="orders",route="/orders",method="POST",'
                'status="503"}[5m]))',
                "refused",
            ),
            unit="reqps",
        ),
        *saga_admission_panels(),
        row("The saga's path"),
        panel(
            "Oldest unpublished outbox row per service",
            *[(f'max(outbox_oldest_unpublished_age_seconds{{service="{s}"}})', s) for s in hops],
            unit="s",
        ),
        panel(
            "Consumer lag on the saga's topics",
            (
                "sum by (group, topic) (max by (group, topic, partition) "
                '(consumer_lag{topic=~"orders.events|catalog.events|payments.events"}))',
                "{{group}} {{topic}}",
            ),
        ),
        panel(
            "Saga messages handled by outcome",
            (
                "sum by (group, outcome) (rate(consumer_handle_duration_seconds_count"
                '{topic=~"orders.events|catalog.events|payments.events"}[5m]))',
                "{{group}} {{outcome}}",
            ),
            unit="ops",
        ),
        panel(
            "Dead letters on the saga's topics",
            (
                "sum by (topic, code) (increase(dead_letters_total"
                '{topic=~"orders.events|catalog.events|payments.events"}[15m]))',
                "{{topic}} {{code}}",
            ),
        ),
        panel(
            "Payment provider breaker (2 = open)",
            ('max by (name) (breaker_state{service="payments"})', "{{name}}"),
        ),
        row("SLOs (docs/slo.md)"),
        panel(
            "Saga behind (share of the time, by window)",
            ("slo:saga_late:ratio_rate1h", "1h"),
            ("slo:saga_late:ratio_rate6h", "6h"),
            ("slo:saga_late:ratio_rate1d", "1d"),
            unit="percentunit",
        ),
        panel(
            "/v1 errors (share of requests, by window)",
            ("slo:api_errors:ratio_rate5m", "5m"),
            ("slo:api_errors:ratio_rate1h", "1h"),
            ("slo:api_errors:ratio_rate1d", "1d"),
            unit="percentunit",
        ),
        panel(
            "/v1 requests over 500 ms (share, by window)",
            ("slo:api_slow:ratio_rate5m", "5m"),
            ("slo:api_slow:ratio_rate1h", "1h"),
            ("slo:api_slow:ratio_rate1d", "1d"),
            unit="percentunit",
        ),
    ]


def layout(panels: list[Panel]) -> list[Panel]:
    """Place panels two per line, each row header on a line of its own; number them."""
    x = y = 0
    placed = []
    for number, item in enumerate(panels, start=1):
        if item["type"] == "row":
            y += HEIGHT if x else 0
            x = 0
            placed.append(item | {"id": number, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
            y += 1
            continue
        placed.append(item | {"id": number, "gridPos": {"h": HEIGHT, "w": WIDTH, "x": x, "y": y}})
        x += WIDTH
        if x >= 24:
            x, y = 0, y + HEIGHT
    return placed


def dashboard(uid: str, title: str, panels: list[Panel], tags: list[str]) -> dict[str, Any]:
    """A whole Grafana dashboard with a Prometheus data-source variable."""
    return {
        "__inputs": [],
        "uid": uid,
        "title": title,
        "tags": ["ordo", *tags],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                }
            ]
        },
        "annotations": {"list": []},
        "links": [],
        "panels": layout(panels),
    }


def dashboards() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every dashboard, as (file name, model)."""
    for svc in SERVICES:
        panels = [
            *http_panels(svc),
            *messaging_panels(svc),
            *resilience_panels(svc),
            *own_panels(svc),
        ]
        yield f"{svc}.json", dashboard(f"ordo-{svc}", f"Ordo / {svc}", panels, [svc])
    yield "saga.json", dashboard("ordo-saga", "Ordo / order saga", saga_dashboard(), ["saga"])


def render(model: dict[str, Any]) -> str:
    """The file's text: stable key order, two-space indent, final newline."""
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards (or, with --check, report those that differ); 1 on drift."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    wanted = {name: render(model) for name, model in dashboards()}
    if args.check:
        present = {p.name: p.read_text(encoding="utf-8") for p in args.out.glob("*.json")}
        drift = sorted(n for n in wanted.keys() | present.keys() if wanted.get(n) != present.get(n))
        for name in drift:
            print(f"drift: {args.out / name} (run python3 infra/dashboards/generate.py)")
        return 1 if drift else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in {p.name for p in args.out.glob("*.json")} - wanted.keys():
        (args.out / stale).unlink()
    for name, text in wanted.items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
