"""Idempotency-Key handling of identity's creating operations (signUp, addMember).

The use case claims the key in its own unit of work, before it changes anything, so the record
commits or rolls back with what it describes (``shared.idempotency``). A replay of addMember
answers the stored response untouched. signUp's response is a session, whose tokens must never
be stored: its record keeps only the ids, and a replay issues a fresh session (see SignUp).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.idempotency import IdempotentResponse

__all__ = ["IdempotentAnswer", "IdempotentRequest"]

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
