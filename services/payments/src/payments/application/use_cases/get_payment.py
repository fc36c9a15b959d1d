"""Read the payment of one of the caller's org's orders, with its attempts."""

from __future__ import annotations

import uuid

from payments.application.errors import PaymentNotFoundError
from payments.application.permissions import POLICY
from payments.application.ports import UnitOfWorkFactory
from payments.domain.payment import Payment
from shared.auth.principal import Principal

__all__ = ["GetPayment"]


class GetPayment:
    """Every member reads their org's payments; another org's, or none yet, is not found."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> Payment:
        """Return the order's payment."""
        POLICY.require(principal, "payments.read", org_id=org_id, not_found=PaymentNotFoundError)
        async with self._uow() as uow:
            payment = await uow.payments.get_by_order(org_id=org_id, order_id=order_id)
        if payment is None:
            raise PaymentNotFoundError(details={"order_id": str(order_id)})
        return payment
