"""Payments' repository on PostgreSQL: payments with their attempts, claims, tombstones."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from payments.adapters.persistence.tables import attempts, payments, tombstones
from payments.application.ports import HeldForCancelledOrders
from payments.domain.payment import CancelledOrder, Claim, Payment
from payments.domain.values import (
    Attempt,
    AttemptOutcome,
    FailureReason,
    Money,
    PaymentStatus,
)
from shared.observability import saved_trace_context

__all__ = ["SqlaPaymentRepository"]

# The first key of the two-key advisory lock that serialises the transactions of one order.
_ORDER_LOCK_NAMESPACE = zlib.crc32(b"ordo.payments.order") & 0x7FFFFFFF


def _payment(row: RowMapping, stored: Sequence[Attempt]) -> Payment:
    reason = row["failure_reason"]
    return Payment(
        id=row["id"],
        org_id=row["org_id"],
        order_id=row["order_id"],
        amount=Money(row["amount_minor"], row["currency"]),
        provider=row["provider"],
        status=PaymentStatus(row["status"]),
        causation_id=row["causation_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        attempts=tuple(stored),
        next_attempt_at=row["next_attempt_at"],
        postponements=row["postponements"],
        claim_token=row["claim_token"],
        claimed_until=row["claimed_until"],
        provider_reference=row["provider_reference"],
        failure_reason=FailureReason(reason) if reason else None,
        provider_code=row["provider_code"],
        authorized_at=row["authorized_at"],
        cancel_causation_id=row["cancel_causation_id"],
        voided_at=row["voided_at"],
        voiding_since=row["voiding_since"],
    )


def _mutable(payment: Payment) -> dict[str, Any]:
    return {
        "status": payment.status.value,
        "next_attempt_at": payment.next_attempt_at,
        "postponements": payment.postponements,
        "claim_token": payment.claim_token,
        "claimed_until": payment.claimed_until,
        "provider_reference": payment.provider_reference,
        "failure_reason": payment.failure_reason.value if payment.failure_reason else None,
        "provider_code": payment.provider_code,
        "authorized_at": payment.authorized_at,
        "cancel_causation_id": payment.cancel_causation_id,
        "voided_at": payment.voided_at,
        "voiding_since": payment.voiding_since,
        "updated_at": payment.updated_at,
        # The trace that changed the payment last (requested it, cancelled it, recorded an
        # attempt): the worker's next attempt continues it.
        "trace_context": saved_trace_context(),
    }


class SqlaPaymentRepository:
    """Payments in PostgreSQL (one per order: ``payments_order_id_key``)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_order(self, *, order_id: uuid.UUID) -> None:
        """Take the order's transaction-scoped advisory lock (request and cancel queue on it)."""
        await self._session.execute(
            text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:order_id))"),
            {"namespace": _ORDER_LOCK_NAMESPACE, "order_id": str(order_id)},
        )

    async def add(self, payment: Payment) -> bool:
        """Insert unless the order already has a payment (``ON CONFLICT DO NOTHING``)."""
        statement = (
            insert(payments)
            .values(
                id=payment.id,
                org_id=payment.org_id,
                order_id=payment.order_id,
                amount_minor=payment.amount.amount_minor,
                currency=payment.amount.currency,
                provider=payment.provider,
                causation_id=payment.causation_id,
                created_at=payment.created_at,
                **_mutable(payment),
            )
            .on_conflict_do_nothing(index_elements=[payments.c.order_id])
            .returning(payments.c.id)
        )
        inserted = (await self._session.execute(statement)).scalar_one_or_none()
        if inserted is None:
            return False
        await self._add_attempts(payment)
        return True

    async def get_by_order(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Payment | None:
        """The org's payment of the order (row-locked when ``for_update``), or None."""
        query = select(payments).where(payments.c.org_id == org_id, payments.c.order_id == order_id)
        return await self._load(query, for_update)

    async def get(self, *, payment_id: uuid.UUID, for_update: bool = False) -> Payment | None:
        """The payment (row-locked when ``for_update``), or None."""
        return await self._load(select(payments).where(payments.c.id == payment_id), for_update)

    async def save(self, payment: Payment) -> None:
        """Write the mutable columns and the attempts added since the payment was loaded."""
        await self._session.execute(
            update(payments).where(payments.c.id == payment.id).values(**_mutable(payment))
        )
        await self._add_attempts(payment)

    async def claim_due(
        self, *, now: datetime, until: datetime, token: uuid.UUID, limit: int
    ) -> Sequence[Claim]:
        """Claim due, unclaimed payments in one statement (``FOR UPDATE SKIP LOCKED``).

        Rows another transaction is claiming right now are skipped, not waited for; rows
        claimed earlier are skipped until their lease ends.
        """
        due = (
            select(payments.c.id)
            .where(
                payments.c.next_attempt_at <= now,
                or_(payments.c.claimed_until.is_(None), payments.c.claimed_until <= now),
            )
            .order_by(payments.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(payments)
            .where(payments.c.id.in_(due.scalar_subquery()))
            .values(claim_token=token, claimed_until=until)
            .returning(
                payments.c.id,
                payments.c.org_id,
                payments.c.order_id,
                payments.c.amount_minor,
                payments.c.currency,
                payments.c.status,
                payments.c.provider_reference,
                payments.c.trace_context,
            )
        )
        rows = (await self._session.execute(statement)).mappings().all()
        return [
            Claim(
                token=token,
                until=until,
                payment_id=row["id"],
                org_id=row["org_id"],
                order_id=row["order_id"],
                amount=Money(row["amount_minor"], row["currency"]),
                status=PaymentStatus(row["status"]),
                provider_reference=row["provider_reference"],
                trace_context=row["trace_context"],
            )
            for row in rows
        ]

    async def next_due_at(self) -> datetime | None:
        """The earliest moment a scheduled payment is both due and unclaimed."""
        later = func.greatest(
            payments.c.next_attempt_at,
            func.coalesce(payments.c.claimed_until, payments.c.next_attempt_at),
        )
        query = select(func.min(later)).where(payments.c.next_attempt_at.is_not(None))
        value: datetime | None = (await self._session.execute(query)).scalar_one_or_none()
        return value

    async def held_for_cancelled_orders(self) -> HeldForCancelledOrders:
        """The payments in ``voiding`` and since when the oldest has been (one index scan).

        Voiding payments always have a next attempt, so the partial index of due payments
        (``payments_due_idx``: only the payments with work ahead) bounds the scan to in-flight
        work, however many payments the table holds.
        """
        query = select(
            func.count(), func.min(func.coalesce(payments.c.voiding_since, payments.c.updated_at))
        ).where(
            payments.c.next_attempt_at.is_not(None),
            payments.c.status == PaymentStatus.VOIDING.value,
        )
        count, oldest = (await self._session.execute(query)).one()
        return HeldForCancelledOrders(count=int(count), oldest_since=oldest)

    async def add_tombstone(self, cancelled: CancelledOrder) -> None:
        """Remember the early cancel (the first one wins)."""
        await self._session.execute(
            insert(tombstones)
            .values(
                order_id=cancelled.order_id,
                org_id=cancelled.org_id,
                causation_id=cancelled.causation_id,
                cancelled_at=cancelled.cancelled_at,
            )
            .on_conflict_do_nothing(index_elements=[tombstones.c.order_id])
        )

    async def get_tombstone(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> CancelledOrder | None:
        """The order's early cancel, or None."""
        query = select(tombstones).where(
            tombstones.c.org_id == org_id, tombstones.c.order_id == order_id
        )
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        return CancelledOrder(
            org_id=row["org_id"],
            order_id=row["order_id"],
            causation_id=row["causation_id"],
            cancelled_at=row["cancelled_at"],
        )

    async def _load(self, query: Any, for_update: bool) -> Payment | None:
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        found = await self._session.execute(
            select(attempts).where(attempts.c.payment_id == row["id"]).order_by(attempts.c.number)
        )
        stored = [
            Attempt(
                number=a["number"],
                attempted_at=a["attempted_at"],
                outcome=AttemptOutcome(a["outcome"]),
                provider_status=a["provider_status"],
                duration_ms=a["duration_ms"],
            )
            for a in found.mappings()
        ]
        return _payment(row, stored)

    async def _add_attempts(self, payment: Payment) -> None:
        new = payment.new_attempts
        if new:
            await self._session.execute(
                insert(attempts).on_conflict_do_nothing(),
                [
                    {
                        "payment_id": payment.id,
                        "number": attempt.number,
                        "attempted_at": attempt.attempted_at,
                        "outcome": attempt.outcome.value,
                        "provider_status": attempt.provider_status,
                        "duration_ms": attempt.duration_ms,
                    }
                    for attempt in new
                ],
            )
        payment.mark_saved()
