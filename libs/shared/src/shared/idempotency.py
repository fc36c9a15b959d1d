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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from shared.errors import ConflictError, ValidationError

__all__ = [
    "CreatingOperation",
    "ExpiringIdempotencyRecords",
    "IdempotencyInProgressError",
    "IdempotencyKeyReusedError",
    "IdempotencyRecords",
    "IdempotentAnswer",
    "IdempotentRequest",
    "IdempotentResponse",
    "claim",
    "complete",
    "request_fingerprint",
]

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)


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


class HasIdempotencyRecords(Protocol):
    """A unit of work exposing :class:`IdempotencyRecords` in its transaction."""

    @property
    def idempotency(self) -> IdempotencyRecords:
        """The records, in this unit of work's transaction."""
        ...


@dataclass(frozen=True, slots=True)
class IdempotentRequest(Generic[R]):
    """A creating request's Idempotency-Key, its fingerprint, and its response for a result.

    ``render`` belongs to the caller (the HTTP adapter knows the response's shape and status);
    it runs inside the transaction, so the stored response is exactly what the first caller
    receives.
    """

    key: str
    fingerprint: str
    render: Callable[[R], IdempotentResponse]


@dataclass(frozen=True, slots=True)
class IdempotentAnswer:
    """The response to send; ``replayed`` when it was stored by an earlier request."""

    response: IdempotentResponse
    replayed: bool


class CreatingOperation(Protocol[R_contra]):
    """What an HTTP adapter knows of one creating operation, handed to its use case.

    The use case fingerprints the request and stores the response through it, so method,
    path and status code stay in the HTTP adapter while the claim stays in the transaction.
    """

    def fingerprint(self, body: Mapping[str, Any]) -> str:
        """The request's fingerprint (see :func:`request_fingerprint`)."""
        ...

    def render(self, result: R_contra) -> IdempotentResponse:
        """The response to store for ``result`` and send to the first caller."""
        ...


async def claim(
    uow: HasIdempotencyRecords, scope: str, request: IdempotentRequest[R]
) -> IdempotentAnswer | None:
    """Claim the key in ``uow``'s transaction; the answer to replay, or None to go on (new key).

    Raises:
        IdempotencyKeyReusedError: the key was used for another request (422).
        IdempotencyInProgressError: its twin is still in flight (409).
    """
    stored = await uow.idempotency.claim(
        scope=scope, key=request.key, fingerprint=request.fingerprint
    )
    return IdempotentAnswer(stored, replayed=True) if stored is not None else None


async def complete(
    uow: HasIdempotencyRecords, scope: str, request: IdempotentRequest[R], result: R
) -> IdempotentAnswer:
    """Render and store the response of ``result`` (committed with the caller's transaction)."""
    response = request.render(result)
    await uow.idempotency.complete(scope=scope, key=request.key, response=response)
    return IdempotentAnswer(response, replayed=False)


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """A stable SHA-256 of a request: method, path and the body as canonical JSON.

    Key order and whitespace in the body do not matter, values do. ``path`` should be the
    route's path with its parameters (not the query string, unless it selects what is created).
    """
    canonical = json.dumps(
        [method.upper(), path, body], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
