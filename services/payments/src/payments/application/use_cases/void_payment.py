"""Make sure the provider holds nothing for a cancelled order, then record it.

A payment in ``voiding`` voids the authorisation it knows of; if it knows none (a call may have
authorised without us hearing the answer), it asks the provider for every authorisation under
the order's reference and voids those. Voiding is idempotent at the provider, so a repeated run
changes nothing. ``payment.voided`` is published when an authorisation was voided; when none
existed the payment ends ``cancelled`` quietly. A provider that cannot answer postpones the run
with backoff, like an authorisation.
"""

from __future__ import annotations

from collections.abc import Callable

from payments.application.ports import PaymentProvider, UnitOfWorkFactory
from payments.domain.payment import Claim, Payment
from payments.domain.schedule import RetrySchedule
from payments.domain.values import VoidResult
from shared.clock import Clock
from shared.errors import is_transient

__all__ = ["VoidPayment"]

_HELD = ("authorized", "voided")


class VoidPayment:
    """Void whatever the provider holds for the claimed (cancelled) payment."""

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
        """Void at the provider, then record the result; return the payment as recorded."""
        return await self.record(claim, await self.call(claim))

    async def call(self, claim: Claim) -> VoidResult | None:
        """Void at the provider (no transaction open); None when it could not answer."""
        try:
            if claim.provider_reference is not None:
                voided = await self._provider.void(claim.provider_reference)
                return VoidResult(claim.provider_reference if voided else None)
            found = await self._provider.find_authorizations(str(claim.order_id))
            voided_reference: str | None = None
            for authorization in found:
                if authorization.status in _HELD and await self._provider.void(authorization.id):
                    voided_reference = authorization.id
            return VoidResult(voided_reference)
        except Exception as exc:
            if is_transient(exc):
                return None
            raise

    async def record(self, claim: Claim, result: VoidResult | None) -> Payment | None:
        """Record the result in one transaction; safe to repeat."""
        async with self._uow() as uow:
            payment = await uow.payments.get(payment_id=claim.payment_id, for_update=True)
            if payment is None:
                return None
            payment.record_void(
                result,
                token=claim.token,
                now=self._clock.now(),
                schedule=self._schedule,
                rand=self._rand(),
            )
            await uow.payments.save(payment)
            uow.record(payment.pull_events())
            await uow.commit()
        return payment
