"""Place an order: a pending order and its ``order.placed``, exactly once per Idempotency-Key.

The key is claimed in the same transaction as the order: the same key and request replay the
first response, another request under the key is 422 ``idempotency.key_reused``, and a twin
still in flight is 409 ``idempotency.in_progress``; a failed attempt leaves no claim behind.

While the saga is behind, the order is refused (503 ``orders.overloaded``) before the key is
claimed: nothing is stored, and the retry under the same key is a first attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orders.application.admission import ALWAYS_ADMIT, Admission
from orders.application.permissions import POLICY
from orders.application.ports import UnitOfWorkFactory
from orders.domain.errors import OrderNotFoundError
from orders.domain.model import Order
from orders.domain.values import Deadlines, OrderLine
from shared.auth.principal import Principal
from shared.clock import Clock
from shared.idempotency import CreatingOperation, IdempotentResponse
from shared.resilience.retry import RECONNECT, retry_transient

__all__ = ["PlaceOrder", "PlaceOrderInput", "PlaceOrderResult"]

OPERATION = "place_order"


@dataclass(frozen=True, slots=True)
class PlaceOrderInput:
    """What the caller sends, and the key that makes retrying it safe."""

    org_id: uuid.UUID
    currency: str
    lines: Sequence[OrderLine]
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class PlaceOrderResult:
    """The response to send; ``replayed`` when it is the stored one of an earlier request."""

    response: IdempotentResponse
    replayed: bool
    order: Order | None = None


class PlaceOrder:
    """Owners, admins and members place orders in their org; the saga starts at once."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        new_id: Callable[[], uuid.UUID],
        deadlines: Deadlines,
        creating: CreatingOperation[Order],
        *,
        admission: Admission = ALWAYS_ADMIT,
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id
        self._deadlines, self._creating = deadlines, creating
        self._admission = admission

    @retry_transient(RECONNECT, operation="orders.place_order")
    async def __call__(self, principal: Principal, command: PlaceOrderInput) -> PlaceOrderResult:
        """Create the order, or replay the response stored under the key.

        Run again once on a fresh connection when the pooled one was dead: its transaction had
        not committed (a lost COMMIT is a 503 instead, and the caller retries with the key).
        """
        POLICY.require(
            principal, "orders.place", org_id=command.org_id, not_found=OrderNotFoundError
        )
        await self._admission.check(command.org_id)
        order = Order.place(
            id=self._new_id(),
            org_id=command.org_id,
            placed_by=principal.user_id,
            currency=command.currency,
            lines=command.lines,
            now=self._clock.now(),
            deadlines=self._deadlines,
        )
        scope = f"{command.org_id}:{OPERATION}"
        fingerprint = self._creating.fingerprint(
            {
                "currency": command.currency,
                "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in command.lines],
            }
        )
        async with self._uow() as uow:
            stored = await uow.idempotency.claim(
                scope=scope, key=command.idempotency_key, fingerprint=fingerprint
            )
            if stored is not None:
                return PlaceOrderResult(stored, replayed=True)
            await uow.orders.add(order)
            uow.record(order.pull_events())
            response = self._creating.render(order)
            await uow.idempotency.complete(
                scope=scope, key=command.idempotency_key, response=response
            )
            await uow.commit()
        return PlaceOrderResult(response, replayed=False, order=order)
