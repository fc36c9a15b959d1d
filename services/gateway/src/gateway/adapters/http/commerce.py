"""The /v1 commerce operations: authenticate, rate-limit, validate against the contract, forward.

Every operation of contracts/openapi/gateway.v1.yaml tagged products, stock, orders, payments or
webhooks is served here and forwarded to the service that owns it, at the same path without
/v1 (contracts/README.md: the internal contracts mirror the public one). The table below is the
whole routing; method, path, parameters and body come from the contract. Order per request:
admission control (503 when the service is at its concurrency limit) -> the general rate limits
(per IP, per user) -> the bearer token (401) -> the contract (422) -> the service.
Authorization (RBAC per org) is the service's: the gateway only refuses bad tokens early.
Browser mode is for identity's session routes; these take bearer tokens only, so CSRF
cannot apply (a cross-site page cannot attach the token).

(No ``from __future__ import annotations``: FastAPI must resolve the local aliases.)
"""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from gateway.adapters.http.edge import EdgeGuards
from gateway.adapters.http.proxy import entry_checks, mount, relay, upstream_request
from gateway.adapters.openapi import Contract, Operation, RequestValidator, ValidRequest
from gateway.adapters.upstream import IDEMPOTENT_METHODS, UpstreamClient
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal

__all__ = ["COMMERCE_ROUTES", "Forward", "build_commerce_router"]


@dataclass(frozen=True, slots=True)
class Forward:
    """One public operation and the service that owns it.

    ``naturally_idempotent`` marks a POST the contract calls naturally idempotent (repeating it
    changes nothing), so it is retried like a PUT.
    """

    operation_id: str
    upstream: str
    naturally_idempotent: bool = False


COMMERCE_ROUTES: tuple[Forward, ...] = (
    Forward("createProduct", "catalog"),
    Forward("listProducts", "catalog"),
    Forward("getProduct", "catalog"),
    Forward("updateProductPrice", "catalog"),
    Forward("listStockLevels", "catalog"),
    Forward("getStockLevel", "catalog"),
    Forward("setStockOnHand", "catalog"),
    Forward("adjustStock", "catalog"),
    Forward("importStock", "catalog"),
    Forward("getStockImport", "catalog"),
    Forward("cancelStockImport", "catalog", naturally_idempotent=True),
    Forward("placeOrder", "orders"),
    Forward("listOrders", "orders"),
    Forward("getOrder", "orders"),
    Forward("cancelOrder", "orders", naturally_idempotent=True),
    Forward("getOrderPayment", "payments"),
    Forward("createWebhookEndpoint", "notifications"),
    Forward("listWebhookEndpoints", "notifications"),
    Forward("getWebhookEndpoint", "notifications"),
    Forward("deleteWebhookEndpoint", "notifications"),
    Forward("listWebhookDeliveries", "notifications"),
    Forward("getWebhookDelivery", "notifications"),
)


def build_commerce_router(
    contract: Contract, upstreams: Mapping[str, UpstreamClient], guards: EdgeGuards
) -> APIRouter:
    """Return the router of the commerce operations, one route per :data:`COMMERCE_ROUTES`."""
    router = APIRouter()
    for forward in COMMERCE_ROUTES:
        operation = contract.operation(forward.operation_id)
        client = upstreams[forward.upstream]
        idempotent = operation.method in IDEMPOTENT_METHODS or forward.naturally_idempotent
        endpoint = _forwarder(operation, client, guards.auth, idempotent)
        mount(router, operation, endpoint, dependencies=[entry_checks(client, guards.general)])
    return router


def _forwarder(
    operation: Operation, client: UpstreamClient, auth: BearerAuth, idempotent: bool
) -> Callable[..., Awaitable[Response]]:
    Caller = Annotated[Principal, Depends(auth)]
    Valid = Annotated[ValidRequest, Depends(RequestValidator(operation))]

    async def forward(request: Request, _caller: Caller, valid: Valid) -> Response:
        call = upstream_request(request, operation, valid, idempotent=idempotent)
        return relay(request, operation, await client.send(call))

    forward.__name__ = operation.operation_id
    return forward
