"""The feature flag ``catalog.read-cache`` flipped in its file while two API instances run.

Real PostgreSQL, Redis and Kafka, the real flagd file provider (docs/flags.md). Instance B
holds a product in its in-process cache; a price change through instance A reaches B only by
an event, which this test never publishes. So B answering the new price can only mean it read
the database: the flag, turned off for the org in the file, without a restart.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from catalog.adapters.caching.read_cache import READ_CACHE_FLAG
from catalog.bootstrap import CacheSettings, CatalogSettings
from shared.flags import OpenFeatureFlags, process_flags
from shared.inbox.testing import wait_until
from shared.settings import DatabaseSettings
from shared.testing import Endpoints
from shared.testing.plugin import NewTopic

from .conftest import Tokens, app_settings
from .test_cache import LONG, instance, json_of

pytestmark = pytest.mark.integration


def write_flags(path: Path, off_for: list[str]) -> None:
    flags = {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            READ_CACHE_FLAG: {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": "on",
                "targeting": {"if": [{"in": [{"var": "org_id"}, off_for]}, "off", None]},
            }
        },
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(flags))
    os.replace(tmp, path)  # at once, as docs/flags.md asks


async def test_turning_the_cache_off_for_an_org_reads_the_database_at_once(
    migrated: DatabaseSettings,
    ordo_endpoints: Endpoints,
    redis_prefix: str,
    new_topic: NewTopic,
    tmp_path: Path,
    org_id: uuid.UUID,
) -> None:
    flag_file = tmp_path / "flags.json"
    write_flags(flag_file, off_for=[])
    settings: CatalogSettings = app_settings(
        migrated,
        ordo_endpoints,
        cache=CacheSettings(key_prefix=redis_prefix, **LONG),
        events_topic=await new_topic(partitions=3),
        flags_file=str(flag_file),
    )
    tokens = Tokens()
    headers = tokens.headers(org_id)
    try:
        async with instance(settings, tokens) as a, instance(settings, tokens) as b:
            body = {
                "sku": "F-1",
                "name": "Flagged",
                "price": {"amount_minor": 100, "currency": "EUR"},
            }
            product = await json_of(await a.post("/products", json=body, headers=headers), 201)
            path = f"/products/{product['id']}"

            async def price_at_b() -> Any:
                return (await json_of(await b.get(path, headers=headers)))["price"]["amount_minor"]

            assert await price_at_b() == 100  # now in B's cache
            new_price = {"price": {"amount_minor": 250, "currency": "EUR"}}
            await json_of(await a.put(f"{path}/price", json=new_price, headers=headers))
            assert await price_at_b() == 100  # B's cached copy: no event has told it

            write_flags(flag_file, off_for=[str(org_id)])

            async def b_reads_the_database() -> bool:
                return bool(await price_at_b() == 250)

            await wait_until(b_reads_the_database, timeout_s=10, message="B read the database")

            write_flags(flag_file, off_for=[])  # on again: B's cached copy is served again

            async def b_reads_its_cache() -> bool:
                return bool(await price_at_b() == 100)

            await wait_until(b_reads_its_cache, timeout_s=10, message="B used its cache again")
    finally:
        flags = process_flags(str(flag_file))
        assert isinstance(flags, OpenFeatureFlags)
        flags.close()
