"""Every kind of outbox row payments writes validates against contracts/asyncapi/payments.yaml."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments.adapters.messaging.events import EVENT_TYPES, SOURCE, TOPIC
from payments.application.facade import PaymentsUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.bootstrap import build_worker_use_cases
from payments.domain.values import Money, PaymentStatus
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings
from shared.testing.asyncapi import EventContract

from .conftest import Provider, fast_provider_settings, fast_settings, provider_adapter

pytestmark = pytest.mark.integration

ASYNCAPI = Path(__file__).resolve().parents[4] / "contracts" / "asyncapi"


async def test_every_payments_event_matches_the_contract(
    payments: PaymentsUseCases,
    sessions: async_sessionmaker[AsyncSession],
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    org_id: uuid.UUID,
) -> None:
    contract = EventContract.load(ASYNCAPI / "payments.yaml")
    assert set(contract.messages) == set(EVENT_TYPES.values())

    kept, declined, deferred = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for order in (kept, declined, deferred):
        await payments.request_payment(
            RequestPaymentInput(org_id, order, Money(1999, "EUR"), uuid.uuid4())
        )
    settings = fast_settings(migrated, provider.url)
    metrics = Metrics()
    async with (
        provider_adapter(settings.provider, metrics) as ok,
        provider_adapter(
            fast_provider_settings(provider.url, card_token="tok_decline"), Metrics()
        ) as refusing,
        provider_adapter(fast_provider_settings("http://127.0.0.1:1"), Metrics()) as unreachable,
    ):
        adapters = {kept: ok, declined: refusing, deferred: unreachable}
        work = await build_worker_use_cases(settings, sessions, ok).claim_due_payments(10)
        assert {c.order_id for c in work.claims} == set(adapters)
        for claim in work.claims:
            worker = build_worker_use_cases(settings, sessions, adapters[claim.order_id])
            await worker.authorize_payment(claim)
        await payments.cancel_payment(CancelPaymentInput(org_id, kept, uuid.uuid4()))
        worker = build_worker_use_cases(settings, sessions, ok)
        claims = (await worker.claim_due_payments(10)).claims  # the deferred one may be due
        [claim] = [c for c in claims if c.order_id == kept]
        assert claim.status is PaymentStatus.VOIDING
        await worker.void_payment(claim)

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT topic, key, headers->>'ce_type', payload, headers FROM outbox "
                    "WHERE payload->>'org_id' = :org ORDER BY seq"
                ),
                {"org": str(org_id)},
            )
        ).all()
    seen = set()
    for topic, key, ce_type, payload, row_headers in rows:
        contract.validate(ce_type, row_headers, payload)
        assert (topic, key, row_headers["ce_source"]) == (TOPIC, payload["order_id"], SOURCE)
        assert row_headers["ce_orgid"] == str(org_id)
        seen.add(ce_type)
    assert seen == set(EVENT_TYPES.values())
