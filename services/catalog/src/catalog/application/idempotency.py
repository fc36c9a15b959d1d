"""Idempotency-Key handling shared by catalog's creating use cases (POST /products, adjustments).

The use case claims the key in its own unit of work, before it changes anything; a replay
returns the stored response untouched; otherwise the response is rendered from the result and
stored with it, so the record commits or rolls back with what it describes. Scopes are
``<org_id>:<operation>``: keys of different orgs or operations never meet.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from catalog.application.ports import UnitOfWork
from shared.idempotency import IdempotentResponse

__all__ = ["IdempotentAnswer", "IdempotentRequest", "claim", "complete", "scope"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class IdempotentRequest(Generic[R]):
    """A creating request's Idempotency-Key, its fingerprint, and its response for a result.

    ``render`` belongs to the caller (the HTTP adapter knows the response's shape); it runs
    inside the transaction, so the stored response is exactly what the first caller receives.
    """

    key: str
    fingerprint: str
    render: Callable[[R], IdempotentResponse]


@dataclass(frozen=True, slots=True)
class IdempotentAnswer:
    """The response to send; ``replayed`` when it was stored by an earlier request."""

    response: IdempotentResponse
    replayed: bool


def scope(org_id: uuid.UUID, operation: str) -> str:
    """``<org_id>:<operation>``."""
    return f"{org_id}:{operation}"


async def claim(
    uow: UnitOfWork, scope: str, request: IdempotentRequest[R]
) -> IdempotentAnswer | None:
    """Claim the key; the answer to replay, or None to go on (new key).

    Raises:
        IdempotencyKeyReusedError: the key was used for another request (422).
        IdempotencyInProgressError: its twin is still in flight (409).
    """
    stored = await uow.idempotency.claim(
        scope=scope, key=request.key, fingerprint=request.fingerprint
    )
    return IdempotentAnswer(stored, replayed=True) if stored is not None else None


async def complete(
    uow: UnitOfWork, scope: str, request: IdempotentRequest[R], result: R
) -> IdempotentAnswer:
    """Render and store the response of ``result`` (committed with the caller's transaction)."""
    response = request.render(result)
    await uow.idempotency.complete(scope=scope, key=request.key, response=response)
    return IdempotentAnswer(response, replayed=False)
