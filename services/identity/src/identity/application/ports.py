"""The ports identity's use cases need; adapters implement them, tests fake them.

Every repository method on an org-owned resource takes ``org_id`` as a required keyword: a
query that forgets the tenant cannot be written. Users, refresh tokens and signing keys are
not org-owned (a user may belong to several orgs); they are reached by the caller's own ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from identity.domain.events import DomainEvent
from identity.domain.model import Membership, Org, RefreshToken, SigningKey, User
from shared.auth.principal import Role
from shared.idempotency import ExpiringIdempotencyRecords
from shared.unit_of_work import TransactionalUnitOfWork

__all__ = [
    "AccessTokenClaims",
    "AccessTokenSigner",
    "MemberView",
    "MembershipRepository",
    "OrgMembershipView",
    "OrgRepository",
    "PasswordHasher",
    "RefreshTokenRepository",
    "SigningKeyFactory",
    "SigningKeyRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
]


@dataclass(frozen=True, slots=True)
class MemberView:
    """A member as listed to their org: personal data limited to what colleagues need."""

    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class OrgMembershipView:
    """One of the caller's own orgs and their role in it."""

    org_id: uuid.UUID
    org_name: str
    role: Role


class OrgRepository(Protocol):
    """Orgs by id (the id is the tenant)."""

    async def add(self, org: Org) -> None:
        """Stage a new org."""
        ...

    async def get(self, *, org_id: uuid.UUID) -> Org | None:
        """Return the org, or None."""
        ...


class UserRepository(Protocol):
    """Users, global across orgs; only reached by the caller's own id or at sign-in."""

    async def add(self, user: User) -> None:
        """Stage a new user (a duplicate email raises ``EmailTakenError`` at flush)."""
        ...

    async def get(self, *, user_id: uuid.UUID) -> User | None:
        """Return the user, or None."""
        ...

    async def get_by_email(self, email: str) -> User | None:
        """Return the user with this (normalised) email, or None."""
        ...


class MembershipRepository(Protocol):
    """Memberships, always within one org."""

    async def add(self, membership: Membership) -> None:
        """Stage a new membership."""
        ...

    async def get(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID, for_update: bool = False
    ) -> Membership | None:
        """Return ``user_id``'s membership in ``org_id``, or None."""
        ...

    async def save(self, membership: Membership) -> None:
        """Persist a changed membership."""
        ...

    async def remove(self, membership: Membership) -> None:
        """Delete a membership."""
        ...

    async def list_members(
        self, *, org_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> Sequence[MemberView]:
        """Return up to ``limit`` of the org's members with a user id above ``after``, by id."""
        ...

    async def count_owners(self, *, org_id: uuid.UUID) -> int:
        """Return how many owners the org has, locking them until commit."""
        ...

    async def list_for_user(self, *, user_id: uuid.UUID) -> Sequence[OrgMembershipView]:
        """Return the caller's own memberships, oldest first."""
        ...


class RefreshTokenRepository(Protocol):
    """Refresh tokens by hash; families revoked together."""

    async def add(self, token: RefreshToken) -> None:
        """Stage a new token."""
        ...

    async def get_by_hash(self, token_hash: bytes) -> RefreshToken | None:
        """Return the token with this hash, locked until commit, or None."""
        ...

    async def save(self, token: RefreshToken) -> None:
        """Persist a rotated token."""
        ...

    async def revoke_family(self, *, family_id: uuid.UUID, now: datetime) -> int:
        """Revoke every token of the family not yet revoked; return how many."""
        ...


class SigningKeyRepository(Protocol):
    """Signing keys; at most one active at a time."""

    async def add(self, key: SigningKey) -> None:
        """Stage a new key."""
        ...

    async def active(self, *, for_update: bool = False) -> SigningKey | None:
        """Return the key that signs now, or None."""
        ...

    async def published(self, *, now: datetime, keep_for: timedelta) -> Sequence[SigningKey]:
        """Return the keys still needed for verification, newest first."""
        ...

    async def save(self, key: SigningKey) -> None:
        """Persist a retired key."""
        ...

    async def delete_retired_before(self, cutoff: datetime) -> int:
        """Delete keys retired before ``cutoff``; return how many."""
        ...


class UnitOfWork(TransactionalUnitOfWork[DomainEvent], Protocol):
    """One database transaction with identity's repositories.

    Events passed to :meth:`record` are written as outbox rows in the same transaction. Leaving
    the context without :meth:`commit` rolls everything back.
    """

    @property
    def orgs(self) -> OrgRepository:
        """Orgs in this transaction."""
        ...

    @property
    def users(self) -> UserRepository:
        """Users in this transaction."""
        ...

    @property
    def memberships(self) -> MembershipRepository:
        """Memberships in this transaction."""
        ...

    @property
    def refresh_tokens(self) -> RefreshTokenRepository:
        """Refresh tokens in this transaction."""
        ...

    @property
    def signing_keys(self) -> SigningKeyRepository:
        """Signing keys in this transaction."""
        ...

    @property
    def idempotency(self) -> ExpiringIdempotencyRecords:
        """Idempotency-Key records (signUp, addMember), in this transaction."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class PasswordHasher(Protocol):
    """Hashes passwords (argon2id in production); slow by design, so async."""

    async def hash(self, password: str) -> str:
        """Return an encoded hash of ``password``."""
        ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Return True if ``password`` matches; with no hash, spend the same time and fail."""
        ...


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    """The claims of an access token (times in epoch seconds)."""

    sub: uuid.UUID
    org_id: uuid.UUID
    roles: tuple[Role, ...]
    iat: int
    nbf: int
    exp: int
    iss: str
    aud: str
    jti: str


class AccessTokenSigner(Protocol):
    """Signs access tokens with a signing key (decrypting its private half)."""

    def sign(self, claims: AccessTokenClaims, key: SigningKey) -> str:
        """Return the compact JWT."""
        ...


class SigningKeyFactory(Protocol):
    """Creates new signing key pairs with their private half encrypted."""

    def create(self, *, now: datetime) -> SigningKey:
        """Return a new, active key."""
        ...
