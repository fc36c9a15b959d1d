"""Notifications' internal API routes: thin, validate -> use case -> map
(contract: contracts/openapi/notifications.yaml; ``operation_id``s equal the contract's).

The org is always the caller's (the token's ``org_id``); another org's resource is 404.
Creating an endpoint takes an ``Idempotency-Key``: a replay answers the stored response with
``Idempotent-Replayed: true``.

(No ``from __future__ import annotations``: FastAPI must resolve the local ``Caller`` alias.)
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from notifications.adapters.http.schemas import (
    CreateWebhookEndpointRequest,
    WebhookDeliveryBody,
    WebhookDeliveryPage,
    WebhookEndpointBody,
    WebhookEndpointPage,
    WebhookEndpointWithSecretBody,
)
from notifications.application.facade import NotificationsUseCases
from notifications.application.ports import DeliveryFilter, EndpointFilter
from notifications.application.use_cases.create_webhook_endpoint import (
    CreateWebhookEndpointInput,
)
from notifications.domain.values import DeliveryStatus, WebhookEventType
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal
from shared.http.idempotency import IdempotencyKey, idempotent_response
from shared.idempotency import request_fingerprint

__all__ = ["build_router"]

BASE = "/webhook-endpoints"
Cursor = Annotated[str | None, Query(min_length=1, max_length=512)]
Limit = Annotated[int, Query(ge=1, le=100)]


def build_router(use_cases: NotificationsUseCases, auth: BearerAuth) -> APIRouter:
    """Return the router of notifications' internal API."""
    router = APIRouter(tags=["webhooks"])
    Caller = Annotated[Principal, Depends(auth)]
    uc = use_cases

    @router.post(
        BASE,
        operation_id="createWebhookEndpoint",
        status_code=status.HTTP_201_CREATED,
        response_model=WebhookEndpointWithSecretBody,
    )
    async def create_webhook_endpoint(
        body: CreateWebhookEndpointRequest, caller: Caller, idempotency_key: IdempotencyKey
    ) -> JSONResponse:
        command = CreateWebhookEndpointInput(
            org_id=caller.org_id,
            url=body.url,
            event_types=[t.value for t in body.event_types],
            description=body.description,
            secret=body.secret,
        )
        created = await uc.create_webhook_endpoint(
            caller,
            command,
            idempotency_key=idempotency_key,
            fingerprint=request_fingerprint("POST", BASE, body.model_dump(mode="json")),
        )
        stored = created.response
        return idempotent_response(
            stored,
            replayed=created.replayed,
            headers={"Location": f"{BASE}/{stored.body.get('id', '')}"},
        )

    @router.get(BASE, operation_id="listWebhookEndpoints", response_model=WebhookEndpointPage)
    async def list_webhook_endpoints(
        caller: Caller,
        *,
        cursor: Cursor = None,
        limit: Limit = 20,
        event_type: Annotated[WebhookEventType | None, Query()] = None,
        enabled: Annotated[bool | None, Query()] = None,
    ) -> WebhookEndpointPage:
        page = await uc.list_webhook_endpoints(
            caller,
            org_id=caller.org_id,
            cursor=cursor,
            limit=limit,
            filters=EndpointFilter(event_type=event_type, enabled=enabled),
        )
        return WebhookEndpointPage(
            items=[WebhookEndpointBody.of(e) for e in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        BASE + "/{endpoint_id}",
        operation_id="getWebhookEndpoint",
        response_model=WebhookEndpointBody,
    )
    async def get_webhook_endpoint(endpoint_id: uuid.UUID, caller: Caller) -> WebhookEndpointBody:
        endpoint = await uc.get_webhook_endpoint(
            caller, org_id=caller.org_id, endpoint_id=endpoint_id
        )
        return WebhookEndpointBody.of(endpoint)

    @router.delete(
        BASE + "/{endpoint_id}",
        operation_id="deleteWebhookEndpoint",
        status_code=status.HTTP_204_NO_CONTENT,
        response_class=Response,
    )
    async def delete_webhook_endpoint(endpoint_id: uuid.UUID, caller: Caller) -> Response:
        await uc.delete_webhook_endpoint(caller, org_id=caller.org_id, endpoint_id=endpoint_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(
        BASE + "/{endpoint_id}/deliveries",
        operation_id="listWebhookDeliveries",
        response_model=WebhookDeliveryPage,
    )
    async def list_webhook_deliveries(
        endpoint_id: uuid.UUID,
        caller: Caller,
        *,
        cursor: Cursor = None,
        limit: Limit = 20,
        status: Annotated[DeliveryStatus | None, Query()] = None,
        event_type: Annotated[WebhookEventType | None, Query()] = None,
        created_after: Annotated[AwareDatetime | None, Query()] = None,
        created_before: Annotated[AwareDatetime | None, Query()] = None,
    ) -> WebhookDeliveryPage:
        page = await uc.list_webhook_deliveries(
            caller,
            org_id=caller.org_id,
            endpoint_id=endpoint_id,
            cursor=cursor,
            limit=limit,
            filters=DeliveryFilter(
                status=status,
                event_type=event_type,
                created_after=created_after,
                created_before=created_before,
            ),
        )
        return WebhookDeliveryPage(
            items=[WebhookDeliveryBody.of(d) for d in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        BASE + "/{endpoint_id}/deliveries/{delivery_id}",
        operation_id="getWebhookDelivery",
        response_model=WebhookDeliveryBody,
    )
    async def get_webhook_delivery(
        endpoint_id: uuid.UUID, delivery_id: uuid.UUID, caller: Caller
    ) -> WebhookDeliveryBody:
        delivery = await uc.get_webhook_delivery(
            caller, org_id=caller.org_id, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
        return WebhookDeliveryBody.of(delivery)

    return router
