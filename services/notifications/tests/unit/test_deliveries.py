"""Delivery use cases through ``bootstrap`` on fakes: fan-out, claims and leases, attempts,
the retry schedule, 410, the breaker's postponement, abandonment and retention."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from notifications.application.facade import NotificationsUseCases
from notifications.application.ports import SendResult
from notifications.application.use_cases.claim_due_deliveries import ClaimedDelivery
from notifications.application.use_cases.create_webhook_endpoint import (
    CreateWebhookEndpointInput,
)
from notifications.application.use_cases.schedule_deliveries import ScheduleDeliveriesInput
from notifications.domain.events import WebhookDeliveryFailed, WebhookDeliverySucceeded
from notifications.domain.values import AttemptError, DeliveryStatus, WebhookEventType
from shared.clock import FrozenClock

from .conftest import FakeSender, Store, failed, principal_of

PLACED_AT = datetime(2026, 11, 26, 11, 59, tzinfo=UTC)


async def endpoint(
    uc: NotificationsUseCases, org_id: uuid.UUID, *types: str, url: str = "https://a.example.com/"
) -> tuple[uuid.UUID, str]:
    created = await uc.create_webhook_endpoint(
        principal_of(org_id),
        CreateWebhookEndpointInput(org_id, url, list(types) or ["order.placed"]),
        idempotency_key=uuid.uuid4().hex,
        fingerprint="fp",
    )
    body = created.response.body
    return uuid.UUID(str(body["id"])), str(body["secret"])


def placed(org_id: uuid.UUID, event_id: uuid.UUID | None = None) -> ScheduleDeliveriesInput:
    return ScheduleDeliveriesInput(
        org_id=org_id,
        event_id=event_id or uuid.uuid4(),
        event_type=WebhookEventType.ORDER_PLACED,
        occurred_at=PLACED_AT,
        data={"order_id": "o-1", "org_id": str(org_id)},
    )


async def claim(
    uc: NotificationsUseCases, limit: int = 10, per_endpoint: int = 10
) -> list[ClaimedDelivery]:
    return await uc.claim_due_deliveries(limit=limit, per_endpoint=per_endpoint)


async def test_an_event_fans_out_to_each_subscribed_endpoint_once(
    use_cases: NotificationsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    first, _ = await endpoint(use_cases, org_id, "order.placed")
    second, _ = await endpoint(use_cases, org_id, "order.placed", "payment.failed")
    await endpoint(use_cases, org_id, "order.confirmed")
    stranger = uuid.uuid4()
    await endpoint(use_cases, stranger, "order.placed")
    event = placed(org_id)
    assert await use_cases.schedule_deliveries(event) == 2
    assert await use_cases.schedule_deliveries(event) == 0  # the same event again
    assert {d.endpoint_id for d in store.deliveries.values()} == {first, second}
    delivery = next(iter(store.deliveries.values()))
    assert delivery.status is DeliveryStatus.PENDING
    assert json.loads(delivery.body) == {
        "type": "order.placed",
        "timestamp": "2026-11-26T11:59:00Z",
        "data": {"order_id": "o-1", "org_id": str(org_id)},
    }


async def test_a_success_is_signed_recorded_and_announced(
    use_cases: NotificationsUseCases,
    store: Store,
    sender: FakeSender,
    clock: FrozenClock,
    org_id: uuid.UUID,
    standard_webhooks: Any,
) -> None:
    endpoint_id, secret = await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    [claimed] = await claim(use_cases)
    outcome = await use_cases.attempt_delivery(claimed)
    assert outcome.status is DeliveryStatus.SUCCEEDED
    [request] = sender.requests
    assert request.url == "https://a.example.com/"
    standard_webhooks.verify(
        secret, dict(request.headers), request.body, now=int(clock.now().timestamp())
    )
    assert request.headers["webhook-id"] == str(claimed.delivery_id)
    delivery = store.deliveries[claimed.delivery_id]
    assert (delivery.status, delivery.delivered_at, delivery.attempt_count) == (
        DeliveryStatus.SUCCEEDED,
        clock.now(),
        1,
    )
    [event] = store.events
    assert isinstance(event, WebhookDeliverySucceeded)
    assert (event.endpoint_id, event.response_status) == (endpoint_id, 204)


async def test_a_claimed_delivery_is_leased_until_its_lease_ends(
    use_cases: NotificationsUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    [first] = await claim(use_cases)
    assert await claim(use_cases) == []  # leased: another worker gets nothing
    clock.advance(31)  # the worker died: the lease ran out
    [again] = await claim(use_cases)
    assert again.delivery_id == first.delivery_id
    assert again.attempt_number == 1  # nothing was recorded by the dead worker
    stale = await use_cases.attempt_delivery(first)  # the old lease cannot record
    assert stale.status is None
    assert (await use_cases.attempt_delivery(again)).status is DeliveryStatus.SUCCEEDED


async def test_per_endpoint_slots_leave_the_rest_due(
    use_cases: NotificationsUseCases, org_id: uuid.UUID
) -> None:
    slow, _ = await endpoint(use_cases, org_id, url="https://slow.example.com/")
    for _ in range(3):
        await use_cases.schedule_deliveries(placed(org_id))
    claimed = await use_cases.claim_due_deliveries(limit=10, per_endpoint=2)
    assert len(claimed) == 2
    assert await use_cases.claim_due_deliveries(limit=10, per_endpoint=2, in_flight={slow: 2}) == []
    assert (
        len(await use_cases.claim_due_deliveries(limit=10, per_endpoint=2, in_flight={slow: 1}))
        == 1
    )


async def test_failures_follow_the_schedule_then_the_delivery_dies(
    use_cases: NotificationsUseCases,
    store: Store,
    sender: FakeSender,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    # conftest's schedule: 5 s, 60 s, 600 s, jitter fixed at its middle: 4 attempts in all.
    await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    sender.answer(failed(500), failed(None), failed(404), failed(503))
    waits = []
    for n in range(1, 5):
        [claimed] = await claim(use_cases)
        assert claimed.attempt_number == n
        started = clock.now()
        outcome = await use_cases.attempt_delivery(claimed)
        delivery = store.deliveries[claimed.delivery_id]
        if n < 4:
            assert outcome.status is DeliveryStatus.RETRYING
            assert delivery.next_attempt_at is not None
            waits.append(delivery.next_attempt_at - started)
            assert await claim(use_cases) == []  # not due before its time
            clock.set(delivery.next_attempt_at)
    assert waits == [timedelta(seconds=5), timedelta(seconds=60), timedelta(seconds=600)]
    assert outcome.status is DeliveryStatus.FAILED
    assert [a.error for a in delivery.attempts] == [
        AttemptError.HTTP_STATUS,
        AttemptError.TIMEOUT,
        AttemptError.HTTP_STATUS,
        AttemptError.HTTP_STATUS,
    ]
    assert [a.response_status for a in delivery.attempts] == [500, None, 404, 503]
    [event] = store.events
    assert isinstance(event, WebhookDeliveryFailed)
    assert (event.attempts, event.last_response_status) == (4, 503)
    assert await claim(use_cases) == []


async def test_410_disables_the_endpoint_and_abandons_its_other_deliveries(
    use_cases: NotificationsUseCases, store: Store, sender: FakeSender, org_id: uuid.UUID
) -> None:
    endpoint_id, _ = await endpoint(use_cases, org_id)
    other, _ = await endpoint(use_cases, org_id, url="https://b.example.com/")
    await use_cases.schedule_deliveries(placed(org_id))
    await use_cases.schedule_deliveries(placed(org_id))
    claimed = await claim(use_cases)
    assert len(claimed) == 4
    gone = next(c for c in claimed if c.endpoint_id == endpoint_id)
    sender.answer(SendResult(410, AttemptError.HTTP_STATUS, 4))
    outcome = await use_cases.attempt_delivery(gone)
    assert outcome.status is DeliveryStatus.FAILED
    assert outcome.endpoint_disabled
    disabled = store.endpoints[endpoint_id]
    assert (disabled.enabled, disabled.disabled_reason) == (False, "gone")
    assert all(
        d.status is DeliveryStatus.FAILED
        for d in store.deliveries.values()
        if d.endpoint_id == endpoint_id
    )
    assert any(d.status.is_open for d in store.deliveries.values() if d.endpoint_id == other)
    assert [type(e) for e in store.events] == [WebhookDeliveryFailed]
    assert await use_cases.schedule_deliveries(placed(org_id)) == 1  # only the other one now


async def test_an_open_circuit_postpones_to_when_the_circuit_lets_a_call_through(
    use_cases: NotificationsUseCases,
    store: Store,
    sender: FakeSender,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    [claimed] = await claim(use_cases)
    sender.answer(SendResult(None, AttemptError.CIRCUIT_OPEN, 0, timedelta(seconds=45)))
    outcome = await use_cases.attempt_delivery(claimed)
    assert outcome.status is DeliveryStatus.RETRYING
    delivery = store.deliveries[claimed.delivery_id]
    assert delivery.next_attempt_at == clock.now() + timedelta(seconds=45)  # not the 5 s wait
    assert delivery.attempts[0].error is AttemptError.CIRCUIT_OPEN
    assert store.endpoints[delivery.endpoint_id].failing_since is None


async def test_an_endpoint_failing_for_days_is_disabled_when_a_delivery_dies(
    use_cases: NotificationsUseCases,
    store: Store,
    sender: FakeSender,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    endpoint_id, _ = await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    sender.answer(*(failed(500) for _ in range(4)))
    [claimed] = await claim(use_cases)
    await use_cases.attempt_delivery(claimed)
    assert store.endpoints[endpoint_id].failing_since == clock.now()
    clock.advance(timedelta(days=6))
    for _ in range(3):
        [claimed] = await claim(use_cases)
        outcome = await use_cases.attempt_delivery(claimed)
        clock.advance(timedelta(hours=1))
    assert outcome.status is DeliveryStatus.FAILED
    assert outcome.endpoint_disabled
    assert store.endpoints[endpoint_id].disabled_reason == "failing"


async def test_a_success_clears_the_failing_streak(
    use_cases: NotificationsUseCases,
    store: Store,
    sender: FakeSender,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    endpoint_id, _ = await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    sender.answer(failed(502))
    await use_cases.attempt_delivery((await claim(use_cases))[0])
    clock.advance(10)
    await use_cases.attempt_delivery((await claim(use_cases))[0])
    assert store.endpoints[endpoint_id].failing_since is None


async def test_deliveries_of_a_deleted_endpoint_are_abandoned_not_sent(
    use_cases: NotificationsUseCases, store: Store, sender: FakeSender, org_id: uuid.UUID
) -> None:
    endpoint_id, _ = await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    [claimed] = await claim(use_cases)
    await use_cases.delete_webhook_endpoint(
        principal_of(org_id), org_id=org_id, endpoint_id=endpoint_id
    )
    outcome = await use_cases.attempt_delivery(claimed)  # in flight while it was deleted
    assert outcome.status is None
    assert store.deliveries[claimed.delivery_id].status is DeliveryStatus.FAILED
    assert store.events == []


async def test_retention_purges_old_finished_deliveries_and_deleted_endpoints(
    use_cases: NotificationsUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    endpoint_id, _ = await endpoint(use_cases, org_id)
    await use_cases.schedule_deliveries(placed(org_id))
    await use_cases.attempt_delivery((await claim(use_cases))[0])
    await use_cases.schedule_deliveries(placed(org_id))  # still open: kept
    clock.advance(timedelta(days=31))
    report = await use_cases.purge_expired_records()
    assert (report.deliveries, report.endpoints) == (1, 0)
    await use_cases.delete_webhook_endpoint(
        principal_of(org_id), org_id=org_id, endpoint_id=endpoint_id
    )
    clock.advance(timedelta(days=31))
    report = await use_cases.purge_expired_records()
    assert (report.deliveries, report.endpoints) == (1, 1)
    assert store.endpoints == {}
    assert store.deliveries == {}
