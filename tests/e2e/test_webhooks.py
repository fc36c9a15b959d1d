"""Signed webhooks: a tenant registers an endpoint and receives its order's events, verified."""

from __future__ import annotations

import uuid

from ordo_client.api.webhooks import create_webhook_endpoint, list_webhook_deliveries
from ordo_client.models import (
    CreateWebhookEndpointRequest,
    OrderStatus,
    WebhookDeliveryStatus,
    WebhookEventType,
)

from .conftest import Receiver, Tenant, TopicLog, eventually, ok, verify_standard_webhook
from .test_order_saga import order_request, place, settled

SUBSCRIBED = {"order.placed", "payment.authorized", "order.confirmed"}


async def test_signed_webhooks_arrive_and_are_logged(
    tenant: Tenant, receiver: Receiver, topic_log: TopicLog, event_contract
) -> None:
    endpoint = ok(
        await create_webhook_endpoint.asyncio_detailed(
            client=tenant.client,
            body=CreateWebhookEndpointRequest(
                url=receiver.url,
                event_types=[WebhookEventType(t) for t in sorted(SUBSCRIBED)],
                description="e2e receiver",
            ),
            idempotency_key=str(uuid.uuid4()),
        ),
        201,
    )
    assert endpoint.secret.startswith("whsec_")
    receiver.secrets.append(endpoint.secret)

    await tenant.product("HOOK-1", 1500, on_hand=3)
    order = await place(tenant, order_request(("HOOK-1", 1)))
    assert (await settled(tenant, order.id)).status == OrderStatus.CONFIRMED

    def for_order() -> list:
        return [d for d in receiver.deliveries if d.json["data"].get("order_id") == str(order.id)]

    async def all_arrived() -> list | None:
        got = for_order()
        return got if {d.json["type"] for d in got} >= SUBSCRIBED else None

    deliveries = await eventually(all_arrived)
    assert all(d.verified for d in deliveries), [d.headers for d in deliveries]
    assert {d.json["type"] for d in deliveries} == SUBSCRIBED  # nothing unsubscribed
    ids = [d.headers["webhook-id"] for d in deliveries]
    assert len(set(ids)) == len(ids)
    # The data of each webhook is the event's v1 payload, as published on the topic.
    for delivery in deliveries:
        ce_type = next(
            r.ce_type
            for r in topic_log.for_key(order.id)
            if r.ce_type.split(".")[2:4] == delivery.json["type"].split(".")
        )
        event_contract.validate(ce_type, None, delivery.json["data"])

    # A tampered copy does not verify (the receiver's check is not a rubber stamp).
    first = deliveries[0]
    assert not verify_standard_webhook(endpoint.secret, first.headers, first.body + b" ")

    async def logged() -> list | None:
        page = ok(await list_webhook_deliveries.asyncio_detailed(endpoint.id, client=tenant.client))
        mine = [d for d in page.items if d.status == WebhookDeliveryStatus.SUCCEEDED]
        return mine if len(mine) >= len(SUBSCRIBED) else None

    log = await eventually(logged)
    assert {str(d.id) for d in log} >= set(ids)
    assert all(d.attempts and d.attempts[0].response_status == 204 for d in log)
