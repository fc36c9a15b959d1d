"""Fakes of identity's ports (in memory, no IO) and the use cases wired through ``bootstrap``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

import pytest

from identity.adapters.crypto.keys import (
    Ed25519SigningKeyFactory,
    JwtAccessTokenSigner,
    KeyEncryptionKey,
)
from identity.application.facade import IdentityUseCases
from identity.application.ports import MemberView, OrgMembershipView
from identity.application.sessions import TokenPolicy
from identity.bootstrap import bootstrap
from identity.domain.errors import EmailTakenError, MemberAlreadyExistsError
from identity.domain.events import DomainEvent
from identity.domain.model import Membership, Org, RefreshToken, SigningKey, User
from shared.auth import JwksKeySource, TokenVerifier
from shared.clock import Clock, FrozenClock, SystemClock
from shared.errors import ConflictError
from shared.idempotency import IdempotencyKeyReusedError, IdempotentResponse

ISSUER = "https://identity.test"
AUDIENCE = "ordo-test"
IDEMPOTENCY_TTL = timedelta(hours=24)


@dataclass
class Store:
    """The fake database."""

    orgs: dict[uuid.UUID, Org] = field(default_factory=dict)
    users: dict[uuid.UUID, User] = field(default_factory=dict)
    memberships: dict[tuple[uuid.UUID, uuid.UUID], Membership] = field(default_factory=dict)
    tokens: dict[bytes, RefreshToken] = field(default_factory=dict)
    keys: dict[str, SigningKey] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    commits: int = 0
    idempotency: dict[tuple[str, str], tuple[str, IdempotentResponse | None]] = field(
        default_factory=dict
    )
    idempotency_expires_at: dict[tuple[str, str], datetime] = field(default_factory=dict)


class FakeOrgRepository:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def add(self, org: Org) -> None:
        self.s.orgs[org.id] = org

    async def get(self, *, org_id: uuid.UUID) -> Org | None:
        return self.s.orgs.get(org_id)


class FakeUserRepository:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def add(self, user: User) -> None:
        if any(u.email == user.email for u in self.s.users.values()):
            raise EmailTakenError()
        self.s.users[user.id] = user

    async def get(self, *, user_id: uuid.UUID) -> User | None:
        return self.s.users.get(user_id)

    async def get_by_email(self, email: str) -> User | None:
        return next((u for u in self.s.users.values() if u.email == email), None)


class FakeMembershipRepository:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def add(self, membership: Membership) -> None:
        key = (membership.org_id, membership.user_id)
        if key in self.s.memberships:
            raise MemberAlreadyExistsError()
        self.s.memberships[key] = membership

    async def get(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID, for_update: bool = False
    ) -> Membership | None:
        found = self.s.memberships.get((org_id, user_id))
        return replace(found, events=[]) if found is not None else None

    async def save(self, membership: Membership) -> None:
        self.s.memberships[(membership.org_id, membership.user_id)] = replace(membership, events=[])

    async def remove(self, membership: Membership) -> None:
        del self.s.memberships[(membership.org_id, membership.user_id)]

    async def list_members(
        self, *, org_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> Sequence[MemberView]:
        found = sorted(
            (
                MemberView(m.user_id, u.email, u.display_name, m.role, m.created_at)
                for (o, _), m in self.s.memberships.items()
                if o == org_id and (u := self.s.users[m.user_id])
            ),
            key=lambda member: member.user_id,
        )
        return [m for m in found if after is None or m.user_id > after][:limit]

    async def count_owners(self, *, org_id: uuid.UUID) -> int:
        return sum(
            1 for (o, _), m in self.s.memberships.items() if o == org_id and m.role == "owner"
        )

    async def list_for_user(self, *, user_id: uuid.UUID) -> Sequence[OrgMembershipView]:
        return [
            OrgMembershipView(o, self.s.orgs[o].name, m.role)
            for (o, u), m in self.s.memberships.items()
            if u == user_id
        ]


class FakeRefreshTokenRepository:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def add(self, token: RefreshToken) -> None:
        self.s.tokens[token.token_hash] = replace(token)

    async def get_by_hash(self, token_hash: bytes) -> RefreshToken | None:
        found = self.s.tokens.get(token_hash)
        return replace(found) if found is not None else None

    async def save(self, token: RefreshToken) -> None:
        self.s.tokens[token.token_hash] = replace(token)

    async def revoke_family(self, *, family_id: uuid.UUID, now: datetime) -> int:
        count = 0
        for t in self.s.tokens.values():
            if t.family_id == family_id and t.revoked_at is None:
                t.revoked_at = now
                count += 1
        return count


class FakeSigningKeyRepository:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def add(self, key: SigningKey) -> None:
        if key.active and any(k.active for k in self.s.keys.values()):
            raise ConflictError()
        self.s.keys[key.kid] = replace(key)

    async def active(self, *, for_update: bool = False) -> SigningKey | None:
        found = next((k for k in self.s.keys.values() if k.active), None)
        return replace(found) if found is not None else None

    async def published(self, *, now: datetime, keep_for: timedelta) -> Sequence[SigningKey]:
        keys = [k for k in self.s.keys.values() if k.published(now, keep_for=keep_for)]
        return sorted(keys, key=lambda k: k.created_at, reverse=True)

    async def save(self, key: SigningKey) -> None:
        self.s.keys[key.kid] = replace(key)

    async def delete_retired_before(self, cutoff: datetime) -> int:
        doomed = [k for k, v in self.s.keys.items() if v.retired_at and v.retired_at < cutoff]
        for kid in doomed:
            del self.s.keys[kid]
        return len(doomed)


class FakeIdempotencyRecords:
    """Keys claimed (or purged) in one unit of work; they reach the store only if it commits.

    As in PostgreSQL, a record answers for ``IDEMPOTENCY_TTL`` after its claim; an expired one
    is claimed afresh.
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self.s = store
        self.clock = clock
        self.pending: dict[tuple[str, str], tuple[str, IdempotentResponse | None]] = {}
        self.pending_expires_at: dict[tuple[str, str], datetime] = {}
        self.purged: set[tuple[str, str]] = set()

    def _live(self, scope: str, key: str) -> tuple[str, IdempotentResponse | None] | None:
        if (scope, key) in self.pending:
            return self.pending[(scope, key)]
        expires_at = self.s.idempotency_expires_at.get((scope, key))
        if expires_at is None or expires_at <= self.clock.now():
            return None
        return self.s.idempotency[(scope, key)]

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        found = self._live(scope, key)
        if found is None:
            self.pending[(scope, key)] = (fingerprint, None)
            self.pending_expires_at[(scope, key)] = self.clock.now() + IDEMPOTENCY_TTL
            return None
        if found[0] != fingerprint:
            raise IdempotencyKeyReusedError()
        return found[1]

    async def complete(self, *, scope: str, key: str, response: IdempotentResponse) -> None:
        fingerprint, _ = self.pending[(scope, key)]
        self.pending[(scope, key)] = (fingerprint, response)

    async def purge_expired(self, *, now: datetime) -> int:
        expired = {k for k, at in self.s.idempotency_expires_at.items() if at <= now}
        self.purged |= expired
        return len(expired)

    def apply(self) -> None:
        """Write what this unit of work claimed and purged to the store (at commit)."""
        for k in self.purged:
            del self.s.idempotency[k]
            del self.s.idempotency_expires_at[k]
        self.s.idempotency.update(self.pending)
        self.s.idempotency_expires_at.update(self.pending_expires_at)
        self.pending, self.pending_expires_at, self.purged = {}, {}, set()


class FakeUnitOfWork:
    """Writes straight to the store; ``commit`` publishes the recorded events and applies the
    idempotency records (``clock`` dates them, as the real adapter's does)."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.store = store
        self.orgs = FakeOrgRepository(store)
        self.users = FakeUserRepository(store)
        self.memberships = FakeMembershipRepository(store)
        self.refresh_tokens = FakeRefreshTokenRepository(store)
        self.signing_keys = FakeSigningKeyRepository(store)
        self.idempotency = FakeIdempotencyRecords(store, clock or SystemClock())
        self._events: list[DomainEvent] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._events = []

    def record(self, events: Iterable[DomainEvent]) -> None:
        self._events.extend(events)

    async def commit(self) -> None:
        self.store.events.extend(self._events)
        self._events = []
        self.idempotency.apply()
        self.store.commits += 1


class FakePasswordHasher:
    async def hash(self, password: str) -> str:
        return f"fake${password[::-1]}"

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return password_hash is not None and password_hash == f"fake${password[::-1]}"


@dataclass
class World:
    """Use cases through the real bootstrap, over fakes, with a frozen clock."""

    store: Store
    clock: FrozenClock
    use_cases: IdentityUseCases
    verifier: TokenVerifier
    policy: TokenPolicy
    kek: str

    async def verify(self, token: str) -> Any:
        return await self.verifier.verify(token)


@pytest.fixture
async def world(kek: str) -> World:
    store = Store()
    # Tokens are checked by PyJWT against the real time: freeze the clock at "now".
    clock = FrozenClock(datetime.now(UTC))
    policy = TokenPolicy(
        issuer=ISSUER,
        audience=AUDIENCE,
        access_ttl=timedelta(minutes=10),
        refresh_ttl=timedelta(days=30),
        key_publish_window=timedelta(minutes=12),
    )
    sealed = KeyEncryptionKey(kek)
    use_cases = bootstrap(
        uow=lambda: FakeUnitOfWork(store, clock),
        hasher=FakePasswordHasher(),
        signer=JwtAccessTokenSigner(sealed),
        key_factory=Ed25519SigningKeyFactory(sealed),
        policy=policy,
        clock=clock,
    )
    await use_cases.ensure_signing_key()
    keys = JwksKeySource(use_cases.get_jwks, ttl_s=0.0, min_refetch_interval_s=0.0)
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    return World(store, clock, use_cases, verifier, policy, kek)
