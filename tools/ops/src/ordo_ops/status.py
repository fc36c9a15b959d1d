"""``ordo status``: one look at the whole stack, gathered concurrently."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

import httpx

from ordo_ops import kafka as kafka_io
from ordo_ops.db import outbox_backlog, replayed_counts
from ordo_ops.stack import DB_SERVICES, Process, Stack

__all__ = ["collect_status"]


async def _ready(client: httpx.AsyncClient, process: Process) -> bool:
    try:
        response = await client.get(f"http://127.0.0.1:{process.port}/health/ready")
    except httpx.HTTPError:
        return False
    return response.status_code == 200


async def collect_status(stack: Stack) -> dict[str, Any]:
    """Return processes, consumer lag, outbox backlog and dead-letter depth as plain data."""
    processes = stack.processes()
    async with httpx.AsyncClient(timeout=3.0) as client:
        ready = await asyncio.gather(*(_ready(client, p) for p in processes))
    lag, dlqs = await asyncio.gather(
        kafka_io.consumer_lag(stack.kafka_bootstrap), kafka_io.dlq_topics(stack.kafka_bootstrap)
    )
    depths = await kafka_io.topic_depths(stack.kafka_bootstrap, dlqs)
    backlogs = await asyncio.gather(*(outbox_backlog(s, stack.database(s)) for s in DB_SERVICES))
    replayed: dict[str, int] = {}
    for counts in await asyncio.gather(*(replayed_counts(stack.database(s)) for s in DB_SERVICES)):
        for topic, n in counts.items():
            replayed[topic] = replayed.get(topic, 0) + n
    return {
        "layout": stack.layout(),
        "processes": [
            asdict(p) | {"pid": stack.pid(p), "ready": ok}
            for p, ok in zip(processes, ready, strict=True)
        ],
        "consumer_lag": [asdict(g) for g in lag],
        "outbox": [asdict(b) for b in backlogs],
        "dead_letters": [
            {
                "topic": topic,
                "records": depths[topic],
                "replayed": replayed.get(topic, 0),
                # Records leave a .dlq by retention only, so the pending ones are the rest.
                "pending": max(0, depths[topic] - replayed.get(topic, 0)),
            }
            for topic in dlqs
        ],
    }
