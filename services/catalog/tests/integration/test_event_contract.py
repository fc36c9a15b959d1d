"""Every kind of outbox row catalog writes validates against contracts/asyncapi/catalog.yaml."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.adapters.messaging.events import EVENT_TYPES
from catalog.application.facade import CatalogUseCases
from catalog.application.use_cases.commit_reservation import CommitReservationInput
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.application.use_cases.release_reservation import ReleaseReservationInput
from catalog.application.use_cases.reserve_for_order import ReserveForOrderInput
from catalog.domain.model import Money, RequestedLine
from shared.testing.asyncapi import EventContract

from .conftest import principal_of

pytestmark = pytest.mark.integration

ASYNCAPI = Path(__file__).resolve().parents[4] / "contracts" / "asyncapi"


async def test_every_catalog_event_matches_the_contract(
    catalog: CatalogUseCases, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    contract = EventContract.load(ASYNCAPI / "catalog.yaml")
    assert set(contract.messages) == set(EVENT_TYPES.values())

    writer = principal_of(org_id)
    product = await catalog.create_product(
        writer, CreateProductInput(org_id, "EV-1", "Event", Money(300, "EUR"))
    )
    await catalog.update_price(
        writer, org_id=org_id, product_id=product.id, price=Money(350, "EUR")
    )
    await catalog.change_stock.set(writer, org_id=org_id, sku="EV-1", on_hand=3)
    await catalog.change_stock.adjust(writer, org_id=org_id, sku="EV-1", delta=2, reason="found")
    kept, released, rejected = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for order, qty in ((kept, 2), (released, 1), (rejected, 9)):
        await catalog.reserve_for_order(
            ReserveForOrderInput(org_id, order, "EUR", [RequestedLine("EV-1", qty)], uuid.uuid4())
        )
    await catalog.release_reservation(ReleaseReservationInput(org_id, released, uuid.uuid4()))
    await catalog.release_reservation(ReleaseReservationInput(org_id, uuid.uuid4(), uuid.uuid4()))
    await catalog.commit_reservation(CommitReservationInput(org_id, kept, uuid.uuid4()))

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT headers->>'ce_type', payload, headers FROM outbox "
                    "WHERE payload->>'org_id' = :org ORDER BY seq"
                ),
                {"org": str(org_id)},
            )
        ).all()
    seen = set()
    for ce_type, payload, headers in rows:
        contract.validate(ce_type, headers, payload)
        assert headers["ce_source"] == "/ordo/catalog"
        seen.add(ce_type)
    assert seen == set(EVENT_TYPES.values())
