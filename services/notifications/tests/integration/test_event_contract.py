"""Every kind of outbox row notifications writes validates against
contracts/asyncapi/notifications.yaml (payload, key, CloudEvents headers)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from notifications.adapters.messaging.events import EVENT_TYPES
from notifications.application.ports import SendResult, WebhookRequest
from notifications.application.rules import DeliveryRules, EndpointRules
from notifications.bootstrap import bootstrap, unit_of_work_factory
from notifications.domain.retry import RetrySchedule
from notifications.domain.values import AttemptError
from shared.testing.asyncapi import EventContract

from .conftest import REPO, create_endpoint, schedule_placed

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("quiet_deliveries")]


class ScriptedSender:
    """Answers per URL: what each endpoint would have said."""

    def __init__(self, answers: dict[str, SendResult]) -> None:
        self.answers = answers

    async def send(self, request: WebhookRequest) -> SendResult:
        return self.answers[request.url]


async def test_every_notifications_event_matches_the_contract(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    contract = EventContract.load(REPO / "contracts/asyncapi/notifications.yaml")
    assert set(contract.messages) == set(EVENT_TYPES.values())
    ok, gone, down = (f"https://{name}.example.com/" for name in ("ok", "gone", "down"))
    use_cases = bootstrap(
        uow=unit_of_work_factory(sessions),
        sender=ScriptedSender(
            {
                ok: SendResult(202, None, 12),
                gone: SendResult(410, AttemptError.HTTP_STATUS, 7),
                down: SendResult(
                    None, AttemptError.CIRCUIT_OPEN, 0, retry_after=timedelta(seconds=1)
                ),
            }
        ),
        endpoint_rules=EndpointRules(),
        delivery_rules=DeliveryRules(schedule=RetrySchedule(delays=())),  # one attempt only
    )
    for url in (ok, gone, down):
        await create_endpoint(use_cases, org_id, url)
    await schedule_placed(use_cases, org_id)
    claimed = [
        c
        for c in await use_cases.claim_due_deliveries(limit=100, per_endpoint=10)
        if c.org_id == org_id
    ]
    assert len(claimed) == 3
    for delivery in claimed:
        await use_cases.attempt_delivery(delivery)

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT key, headers->>'ce_type', payload, headers FROM outbox "
                    "WHERE payload->>'org_id' = :org ORDER BY seq"
                ),
                {"org": str(org_id)},
            )
        ).all()
    assert len(rows) == 3
    seen = []
    for key, ce_type, payload, headers in rows:
        contract.validate(ce_type, headers, payload)
        assert key == payload["delivery_id"]  # keyed by delivery id
        assert headers["ce_source"] == "/ordo/notifications"
        assert headers["ce_subject"] == key
        assert headers["ce_orgid"] == str(org_id)
        seen.append((ce_type, payload.get("last_error")))
    assert sorted(seen, key=str) == sorted(
        [
            ("ordo.notifications.webhook_delivery.succeeded.v1", None),
            ("ordo.notifications.webhook_delivery.failed.v1", "http_status"),
            ("ordo.notifications.webhook_delivery.failed.v1", "circuit_open"),
        ],
        key=str,
    )
