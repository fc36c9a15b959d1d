"""Make one attempt of a claimed delivery and record it.

The request is signed for this attempt (Standard Webhooks, fresh timestamp) and sent with no
transaction open; the outcome is recorded in a short transaction that checks the lease is still
this worker's. 2xx: succeeded (``webhook_delivery.succeeded``). ``410 Gone``: failed at once
(``webhook_delivery.failed``) and the endpoint disabled, its other open deliveries abandoned.
Anything else: retried per the schedule with jitter, failed after the last attempt; an
endpoint whose deliveries keep dying with no success for ``disable_after`` is disabled too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from notifications.application.ports import (
    SendResult,
    UnitOfWork,
    UnitOfWorkFactory,
    WebhookRequest,
    WebhookSender,
)
from notifications.application.rules import DeliveryRules
from notifications.application.use_cases.claim_due_deliveries import ClaimedDelivery
from notifications.domain.delivery import Attempt, Delivery
from notifications.domain.endpoint import DISABLED_FAILING, DISABLED_GONE, WebhookEndpoint
from notifications.domain.signing import signature_headers
from notifications.domain.values import AttemptError, DeliveryStatus
from shared.clock import Clock

__all__ = ["AttemptDelivery", "AttemptOutcome"]


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What the attempt did: the attempt, and the delivery's status after it (None: the lease
    was lost or the delivery had ended, so nothing was recorded)."""

    attempt: Attempt
    status: DeliveryStatus | None
    endpoint_disabled: bool = False


class AttemptDelivery:
    """Attempt a claimed delivery once."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        sender: WebhookSender,
        rules: DeliveryRules,
        random: Callable[[], float],
    ) -> None:
        self._uow, self._clock, self._sender = uow, clock, sender
        self._rules, self._random = rules, random

    async def __call__(self, claimed: ClaimedDelivery) -> AttemptOutcome:
        """Send, then record; the HTTP call holds no transaction and no row lock."""
        at = self._clock.now()
        result = await self._sender.send(
            WebhookRequest(
                endpoint_id=claimed.endpoint_id,
                url=claimed.url,
                headers=signature_headers(claimed.secret, claimed.delivery_id, at, claimed.body),
                body=claimed.body,
            )
        )
        attempt = Attempt.of(
            number=claimed.attempt_number,
            at=at,
            response_status=result.response_status,
            duration_ms=result.duration_ms,
            error=result.error,
        )
        return await self._record(claimed, attempt, result)

    async def _record(
        self, claimed: ClaimedDelivery, attempt: Attempt, result: SendResult
    ) -> AttemptOutcome:
        now = self._clock.now()
        not_before = now + result.retry_after if result.retry_after is not None else None
        async with self._uow() as uow:
            # Lock order: the endpoint's row, then the delivery's (as deletion does).
            endpoint = await uow.endpoints.get(
                org_id=claimed.org_id,
                endpoint_id=claimed.endpoint_id,
                include_deleted=True,
                for_update=True,
            )
            delivery = await uow.deliveries.get_leased(
                delivery_id=claimed.delivery_id, token=claimed.lease
            )
            if endpoint is None or delivery is None or not delivery.status.is_open:
                return AttemptOutcome(attempt, None)
            delivery.record(
                attempt, schedule=self._rules.schedule, draw=self._random(), not_before=not_before
            )
            await uow.deliveries.save(delivery)
            disabled = await self._update_endpoint(uow, endpoint, delivery, attempt)
            uow.record(delivery.pull_events())
            await uow.commit()
        return AttemptOutcome(attempt, delivery.status, disabled)

    async def _update_endpoint(
        self, uow: UnitOfWork, endpoint: WebhookEndpoint, delivery: Delivery, attempt: Attempt
    ) -> bool:
        """Track the endpoint's health; return True if it was disabled now."""
        now = delivery.updated_at
        if attempt.succeeded:
            changed = endpoint.note_success()
        elif attempt.error is AttemptError.CIRCUIT_OPEN:
            changed = False  # not an answer of the endpoint: its health is unchanged
        else:
            changed = endpoint.note_failure(attempt.attempted_at)
        reason = None
        if endpoint.enabled and attempt.gone:
            reason = DISABLED_GONE
        elif (
            endpoint.enabled
            and delivery.status is DeliveryStatus.FAILED
            and endpoint.failing_for_longer_than(self._rules.disable_after, now)
        ):
            reason = DISABLED_FAILING
        if reason is not None:
            endpoint.disable(reason, now)
            changed = True
        if changed:
            await uow.endpoints.save(endpoint)
        if reason is not None:
            await uow.deliveries.abandon_open(
                org_id=endpoint.org_id, endpoint_id=endpoint.id, now=now
            )
        return reason is not None
