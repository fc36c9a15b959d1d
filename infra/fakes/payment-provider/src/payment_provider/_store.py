"""In-memory authorizations and idempotency keys, for the process lifetime (this is a fake).

Requests sharing an ``Idempotency-Key`` are serialised by a per-key ``asyncio.Lock``, so at most
one authorization is ever created per key; the first response is stored and replayed verbatim.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from payment_provider._models import AuthorizationOut, AuthorizationRequest, AuthorizationStatus
from payment_provider._problems import ProviderProblem

# Magic card tokens that are always declined, with the decline code reported; nothing else is.
DECLINE_TOKENS: dict[str, str] = {
    "tok_decline": "card_declined",
    "tok_insufficient_funds": "insufficient_funds",
}


class IdempotencyKeyReusedError(ProviderProblem):
    """The key was first used with another request body."""

    def __init__(self) -> None:
        super().__init__(
            422,
            "idempotency-key-reused",
            "Idempotency key reused",
            "This Idempotency-Key was used with a different request body.",
        )


@dataclass
class Authorization:
    """One authorization; only ``status`` and ``voided_at`` change, on void."""

    id: str
    status: AuthorizationStatus
    amount_minor: int
    currency: str
    reference: str
    card_token: str | None
    decline_code: str | None
    created_at: datetime
    voided_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return AuthorizationOut.model_validate(self).model_dump(mode="json")


@dataclass(frozen=True)
class _KeyRecord:
    fingerprint: str
    authorization_id: str
    response: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What ``authorize`` did: the response body to send and whether it is a replay."""

    body: dict[str, Any]
    replayed: bool
    status: AuthorizationStatus


def fingerprint(request: AuthorizationRequest) -> str:
    """A digest of the request's meaning: key order and whitespace do not matter."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class AuthorizationStore:
    """Authorizations by id and idempotency keys, guarded by asyncio locks."""

    _by_id: dict[str, Authorization] = field(default_factory=dict)
    _keys: dict[str, _KeyRecord] = field(default_factory=dict)
    # Never pruned: the fake lives for one local run or test session.
    _key_locks: defaultdict[str, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def authorize(self, key: str, request: AuthorizationRequest) -> Outcome:
        """Authorize once per key; a repeat replays, a repeat with another body is a 422."""
        digest = fingerprint(request)
        async with self._key_locks[key]:
            record = self._keys.get(key)
            if record is not None:
                if record.fingerprint != digest:
                    raise IdempotencyKeyReusedError
                original = self._by_id[record.authorization_id]
                return Outcome(record.response, replayed=True, status=original.status)
            status, decline_code = await _ask_issuer(request.card_token)
            authorization = Authorization(
                id=f"auth_{uuid.uuid4().hex}",
                status=status,
                amount_minor=request.amount_minor,
                currency=request.currency,
                reference=request.reference,
                card_token=request.card_token,
                decline_code=decline_code,
                created_at=datetime.now(UTC),
            )
            response = authorization.to_json()
            async with self._lock:
                self._by_id[authorization.id] = authorization
                self._keys[key] = _KeyRecord(digest, authorization.id, response)
            return Outcome(response, replayed=False, status=status)

    def get(self, authorization_id: str) -> Authorization:
        """The authorization, or a 404 problem."""
        authorization = self._by_id.get(authorization_id)
        if authorization is None:
            raise ProviderProblem(
                404,
                "authorization-not-found",
                "Authorization not found",
                f"No authorization {authorization_id!r}.",
            )
        return authorization

    async def void(self, authorization_id: str) -> tuple[Authorization, bool]:
        """Void an authorization; voiding a voided one changes nothing (returns ``False``)."""
        async with self._lock:
            authorization = self.get(authorization_id)
            if authorization.status == "voided":
                return authorization, False
            if authorization.status == "declined":
                raise ProviderProblem(
                    409,
                    "authorization-declined",
                    "Authorization declined",
                    "A declined authorization cannot be voided.",
                )
            authorization.status = "voided"
            authorization.voided_at = datetime.now(UTC)
            return authorization, True

    def find(self, reference: str | None) -> list[Authorization]:
        """Authorizations, oldest first, optionally only those for one merchant reference."""
        # Dicts keep insertion order, which is creation order.
        return [a for a in self._by_id.values() if reference is None or a.reference == reference]

    def counts(self) -> dict[str, int]:
        """How many authorizations and idempotency keys are held."""
        return {"authorizations": len(self._by_id), "idempotency_keys": len(self._keys)}


async def _ask_issuer(card_token: str | None) -> tuple[AuthorizationStatus, str | None]:
    # Yield as a real issuer round trip would: this await is why concurrent requests with one
    # key would both authorize without the per-key lock.
    await asyncio.sleep(0)
    decline_code = DECLINE_TOKENS.get(card_token or "")
    return ("declined", decline_code) if decline_code else ("authorized", None)
