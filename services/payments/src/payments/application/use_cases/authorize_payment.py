"""Authorise a claimed payment with the provider, then record what happened.

The provider is called with no transaction open (a slow provider must not hold database
connections or row locks), always with the payment's id as the idempotency key and the same
request body, so however often a payment is tried, or by however many workers, the provider
authorises it at most once. The outcome, its attempts and its event are recorded in a second,
short transaction: ``payment.authorized``, ``payment.failed``, or, while the provider is
unavailable, ``payment.authorization_deferred`` with the next attempt's time.
"""

from __future__ import annotations

from collections.abc import Callable

from payments.application.ports import (
    AuthorizationRequest,
    PaymentProvider,
    UnitOfWorkFactory,
)
from payments.domain.payment import Claim, Payment
from payments.domain.schedule import RetrySchedule
from payments.domain.values import AuthorizationResult
from shared.clock import Clock

__all__ = ["AuthorizePayment", "authorization_request"]


def authorization_request(claim: Claim) -> AuthorizationRequest:
    """The one request a payment ever sends (key = payment id, reference = order id)."""
    return AuthorizationRequest(
        idempotency_key=str(claim.payment_id),
        amount=claim.amount,
        reference=str(claim.order_id),
    )


class AuthorizePayment:
    """Try the claimed payment once (the provider adapter retries within its budget)."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        provider: PaymentProvider,
        clock: Clock,
        schedule: RetrySchedule,
        rand: Callable[[], float],
    ) -> None:
        self._uow, self._provider, self._clock = uow, provider, clock
        self._schedule, self._rand = schedule, rand

    async def __call__(self, claim: Claim) -> Payment | None:
        """Call the provider, then record the result; return the payment as recorded."""
        return await self.record(claim, await self.call(claim))

    async def call(self, claim: Claim) -> AuthorizationResult:
        """Ask the provider (no transaction is open here)."""
        return await self._provider.authorize(authorization_request(claim))

    async def record(self, claim: Claim, result: AuthorizationResult) -> Payment | None:
        """Record the result in one transaction; safe to repeat (see ``Payment``)."""
        now = self._clock.now()
        async with self._uow() as uow:
            payment = await uow.payments.get(payment_id=claim.payment_id, for_update=True)
            if payment is None:
                return None
            payment.record_authorization(
                result,
                token=claim.token,
                now=now,
                schedule=self._schedule,
                rand=self._rand(),
            )
            await uow.payments.save(payment)
            uow.record(payment.pull_events())
            if payment.due_at(now):
                uow.wake_worker()  # cancelled meanwhile: voiding is due now
            await uow.commit()
        return payment
