"""Register a webhook endpoint: owners and admins, per org limit, idempotent by key.

The endpoint, its idempotency record and the stored response (secret included, which is shown
only in this response and its replays) commit in one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from notifications.application.permissions import POLICY
from notifications.application.ports import EndpointPresenter, UnitOfWorkFactory
from notifications.application.rules import EndpointRules
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.errors import EndpointLimitReachedError, EndpointNotFoundError
from notifications.domain.values import SigningSecret
from shared.auth.principal import Principal
from shared.clock import Clock
from shared.idempotency import IdempotentResponse

__all__ = ["CreateWebhookEndpoint", "CreateWebhookEndpointInput", "CreatedResponse"]

OPERATION = "create_webhook_endpoint"


@dataclass(frozen=True, slots=True)
class CreateWebhookEndpointInput:
    """What the caller sends (``secret``: theirs, or None to have one generated)."""

    org_id: uuid.UUID
    url: str
    event_types: Sequence[str]
    description: str | None = None
    secret: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedResponse:
    """The response to send: fresh, or the stored one of an earlier request with the key."""

    response: IdempotentResponse
    replayed: bool


class CreateWebhookEndpoint:
    """Owners and admins register endpoints, up to the org's limit (409 beyond)."""

    def __init__(  # noqa: PLR0917 - the use case's ports, wired by bootstrap
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        new_id: Callable[[], uuid.UUID],
        random_bytes: Callable[[int], bytes],
        present: EndpointPresenter,
        rules: EndpointRules,
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id
        self._random_bytes, self._present, self._rules = random_bytes, present, rules

    async def __call__(
        self,
        principal: Principal,
        command: CreateWebhookEndpointInput,
        *,
        idempotency_key: str,
        fingerprint: str,
    ) -> CreatedResponse:
        """Create the endpoint (201), or replay the key's stored response."""
        POLICY.require(
            principal, "webhooks.manage", org_id=command.org_id, not_found=EndpointNotFoundError
        )
        secret = (
            SigningSecret.parse(command.secret)
            if command.secret is not None
            else SigningSecret.generate(self._random_bytes)
        )
        endpoint = WebhookEndpoint.register(
            id=self._new_id(),
            org_id=command.org_id,
            url=command.url,
            event_types=command.event_types,
            secret=secret,
            now=self._clock.now(),
            allow_loopback_http=self._rules.allow_loopback_http,
            description=command.description,
        )
        scope = f"{command.org_id}:{OPERATION}"
        async with self._uow() as uow:
            stored = await uow.idempotency.claim(
                scope=scope, key=idempotency_key, fingerprint=fingerprint
            )
            if stored is not None:
                return CreatedResponse(stored, replayed=True)
            await uow.endpoints.lock_org(org_id=command.org_id)
            if await uow.endpoints.count(org_id=command.org_id) >= self._rules.max_per_org:
                raise EndpointLimitReachedError(details={"limit": self._rules.max_per_org})
            await uow.endpoints.add(endpoint)
            response = IdempotentResponse(201, self._present(endpoint, secret))
            await uow.idempotency.complete(scope=scope, key=idempotency_key, response=response)
            await uow.commit()
        return CreatedResponse(response, replayed=False)
