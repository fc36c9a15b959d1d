"""Bulk stock import through the public /v1 API and the generated client: upload a few
thousand lines, poll the job's percent to 100, and find each line applied exactly once (the
stock level and the stock.level_changed events on catalog.events)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from ordo_client.api.stock import (
    cancel_stock_import,
    get_stock_import,
    get_stock_level,
    import_stock,
)
from ordo_client.models import StockImport, StockImportRequest, StockImportState

from .conftest import Tenant, TopicLog, eventually, ok

SKUS = [f"BULK-{n}" for n in range(20)]
LINES = 3000
BUSY = (429, 503, 504)


async def start(tenant: Tenant, csv: str, key: str) -> Any:
    """POST the import as a careful client does: on 409 (its twin in flight), 429, 503 or 504
    (outcome unknown), again with the same Idempotency-Key; one import either way."""
    for attempt in range(8):
        response = await import_stock.asyncio_detailed(
            client=tenant.client, body=StockImportRequest(csv=csv), idempotency_key=key
        )
        if response.status_code not in (409, *BUSY):
            return response
        await asyncio.sleep(0.2 * 2**attempt)
    return response


async def test_a_csv_of_thousands_of_lines_applies_each_line_once(
    tenant: Tenant, topic_log: TopicLog
) -> None:
    for sku in SKUS:
        await tenant.product(sku, 500, on_hand=100)
    deltas = [(SKUS[n % len(SKUS)], (n % 7) + 1) for n in range(LINES)]
    csv = "sku,delta,reason\n" + "".join(f"{sku},{delta},received\n" for sku, delta in deltas)
    key = str(uuid.uuid4())
    started = await start(tenant, csv, key)
    job: StockImport = ok(started, 202)
    assert started.headers["location"] == f"/v1/stock-imports/{job.id}"
    assert job.rows_total == LINES
    replay = await start(tenant, csv, key)
    assert ok(replay, 202).id == job.id
    assert replay.headers["idempotent-replayed"] == "true"

    seen: list[int] = []

    async def finished() -> StockImport | None:
        polled = await get_stock_import.asyncio_detailed(job.id, client=tenant.client)
        if polled.status_code in BUSY:
            return None  # the stack sheds load or restarts a process: poll again, as a client would
        current: StockImport = ok(polled)
        seen.append(current.percent)
        return current if current.state == StockImportState.SUCCEEDED else None

    done = await eventually(finished, within=120, every=0.5)
    assert done.percent == 100
    assert seen == sorted(seen), "percent never goes back"
    assert done.result is not None
    assert (done.result.applied, done.result.failed) == (LINES, 0)

    levels = {sku: 100 + sum(d for s, d in deltas if s == sku) for sku in SKUS}
    for sku, expected in levels.items():
        level = ok(await get_stock_level.asyncio_detailed(sku, client=tenant.client))
        assert level.on_hand == expected, sku

    async def all_events() -> int | None:
        adjusted = [
            r
            for r in topic_log.for_org(tenant.org_id)
            if r.ce_type == "ordo.catalog.stock.level_changed.v1"
            and r.payload.get("change") == "adjusted"
        ]
        return len(adjusted) if len(adjusted) >= LINES else None

    assert await eventually(all_events, within=60) == LINES

    cancelled = ok(await cancel_stock_import.asyncio_detailed(job.id, client=tenant.client), 202)
    assert cancelled.state == StockImportState.SUCCEEDED, "a finished import stays as it is"
