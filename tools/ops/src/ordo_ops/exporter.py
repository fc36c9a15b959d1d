"""``ordo exporter``: what no service can measure alone, as Prometheus metrics.

A ``.dlq`` topic is written by every consumer group of its source topic, and replays are marked
in each consuming service's own database, so the dead letters *not yet replayed* are known only
by reading Kafka and every database together, as ``ordo status`` does. The exporter does that
every ``interval`` seconds in the background (scrapes read the last result: they cost nothing)
and serves ``ordo_dlq_pending{topic}`` for the DeadLettersPending alert.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, Gauge, generate_latest, start_http_server

from ordo_ops import kafka as kafka_io
from ordo_ops.db import replayed_counts
from ordo_ops.stack import DB_SERVICES, Stack

__all__ = ["DlqGauges", "collect_once", "serve"]


class DlqGauges:
    """The exporter's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.records = Gauge(
            "ordo_dlq_records", "Records a .dlq topic holds.", ["topic"], registry=self.registry
        )
        self.pending = Gauge(
            "ordo_dlq_pending",
            "Records of a .dlq topic not yet replayed (records minus replay marks).",
            ["topic"],
            registry=self.registry,
        )
        self.last_success = Gauge(
            "ordo_exporter_last_success_timestamp_seconds",
            "When the exporter last read Kafka and every database successfully.",
            registry=self.registry,
        )

    def render(self) -> str:
        """The exposition text (for ``--once``)."""
        return generate_latest(self.registry).decode()


async def collect_once(stack: Stack, gauges: DlqGauges) -> None:
    """Read every .dlq topic's depth and every service's replay marks; set the gauges."""
    topics = await kafka_io.dlq_topics(stack.kafka_bootstrap)
    depths = await kafka_io.topic_depths(stack.kafka_bootstrap, topics)
    replayed: dict[str, int] = {}
    for counts in await asyncio.gather(*(replayed_counts(stack.database(s)) for s in DB_SERVICES)):
        for topic, n in counts.items():
            replayed[topic] = replayed.get(topic, 0) + n
    gauges.records.clear()
    gauges.pending.clear()
    for topic in topics:
        gauges.records.labels(topic=topic).set(depths[topic])
        gauges.pending.labels(topic=topic).set(max(0, depths[topic] - replayed.get(topic, 0)))
    gauges.last_success.set(time.time())


async def _loop(stack: Stack, gauges: DlqGauges, interval_s: float) -> None:
    while True:
        try:
            await collect_once(stack, gauges)
        except Exception as exc:
            print(f"ordo exporter: collection failed: {type(exc).__name__}: {exc}", flush=True)
        await asyncio.sleep(interval_s)


def serve(stack: Stack, port: int, interval_s: float) -> None:
    """Serve the gauges on 127.0.0.1:``port`` and refresh them every ``interval_s``."""
    gauges = DlqGauges()
    start_http_server(port, addr="127.0.0.1", registry=gauges.registry)
    asyncio.run(_loop(stack, gauges, interval_s))
