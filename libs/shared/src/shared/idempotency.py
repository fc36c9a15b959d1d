"""Idempotency keys for creating requests: the port, its errors and the request fingerprint.

A creating ``POST`` carries an ``Idempotency-Key``. The use case claims it in the same
transaction as the resource it creates, through an :class:`IdempotencyRecords` port (the
PostgreSQL adapter is :class:`shared.db.idempotency.SqlaIdempotencyRecords`)::

    async with uow:
        replay = await uow.idempotency.claim(scope=f"{org}:place_order", key=key, fingerprint=fp)
        if replay is not None:
            return replay                      # the original response, stored with the claim
        order = Order.place(...)
        ...
        await uow.idempotency.complete(scope=..., key=key, response=IdempotentResponse(201, body))
        await uow.commit()                     # the order, its outbox rows and the record

Outcomes (contracts/README.md): same key and same request -> the stored response, replayed;
same key, another request -> :class:`IdempotencyKeyReusedError` (422); the same key while its
first request is still in flight -> :class:`IdempotencyInProgressError` (409). Because the claim
commits or rolls back with the resource, a failed request leaves no record and can be retried
with the same key. Framework-free: application code imports it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.clock import Clock
from shared.errors import ConflictError, ValidationError

__all__ = [
    "ExpiringIdempotencyRecords",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyRecords",
    "IdempotentResponse",
    "PurgeExpiredIdempotencyKeys",
    "UnitOfWorkWithKeys",
    "request_fingerprint",
]


class IdempotencyKeyReusedError(ValidationError):
    """The key was used before for a different request (422)."""

    code = "idempotency.key_reused"
    default_message = "This Idempotency-Key was already used for a different request."


class IdempotencyInProgressError(ConflictError):
    """A request with this key is still being processed (409); retry later."""

    code = "idempotency.in_progress"
    default_message = "A request with this Idempotency-Key is still in progress; retry later."


@dataclass(frozen=True)
class IdempotentResponse:
    """The response stored with a key: replayed as is for the same request."""

    status_code: int
    body: dict[str, Any] = field(default_factory=dict)


class IdempotencyRecords(Protocol):
    """Idempotency records inside the caller's transaction (a unit of work exposes one)."""

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        """Claim ``key`` in ``scope``; ``None`` when new (go on), else the response to replay.

        Raises:
            IdempotencyKeyReusedError: the key's stored request has another fingerprint.
            IdempotencyInProgressError: another transaction holds the key right now.
        """
        ...

    async def complete(self, *, scope: str, key: str, response: IdempotentResponse) -> None:
        """Store the response of the claimed key (committed with the caller's transaction)."""
        ...


class ExpiringIdempotencyRecords(IdempotencyRecords, Protocol):
    """Idempotency records that can also forget the expired ones (records are kept 24 h)."""

    async def purge_expired(self, *, now: datetime) -> int:
        """Delete the records that expired before ``now``; return how many."""
        ...


class UnitOfWorkWithKeys(Protocol):
    """A unit of work exposing :class:`ExpiringIdempotencyRecords` (every service's has one)."""

    @property
    def idempotency(self) -> ExpiringIdempotencyRecords:
        """The records, in this unit of work's transaction."""
        ...

    async def commit(self) -> None:
        """Commit the unit of work's transaction."""
        ...


class PurgeExpiredIdempotencyKeys:
    """Forget expired Idempotency-Keys: past its expiry a key may be used afresh.

    A use case every service with keyed POSTs runs periodically (``shared.periodic``). One
    DELETE of the expired rows in one transaction: several replicas running it at once delete
    each row once and do no harm.
    """

    def __init__(
        self,
        uow: Callable[[], AbstractAsyncContextManager[UnitOfWorkWithKeys]],
        clock: Clock,
    ) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self) -> int:
        """Return how many records were deleted."""
        async with self._uow() as uow:
            purged = await uow.idempotency.purge_expired(now=self._clock.now())
            await uow.commit()
        return purged


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """A stable SHA-256 of a request: method, path and the body as canonical JSON.

    Key order and whitespace in the body do not matter, values do. ``path`` should be the
    route's path with its parameters (not the query string, unless it selects what is created).
    """
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
