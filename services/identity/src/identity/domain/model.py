"""Identity's aggregates and their rules.

- :class:`Org` is a tenant. :class:`User` is a person; one user may belong to several orgs.
- :class:`Membership` (org, user, role) is the aggregate of authorization: only owners grant
  or touch the owner role; admins manage admins, members and viewers; an org keeps one owner.
- :class:`RefreshToken` rotates on every use inside its family; presenting a rotated or revoked
  token is reuse, and reuse revokes the whole family.
- :class:`SigningKey` signs access tokens while active; once retired it stays published (to
  verify the tokens it signed) until they have all expired.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from identity.domain.errors import OwnerRoleRequiredError, PasswordPolicyError
from identity.domain.events import (
    DomainEvent,
    MembershipChange,
    MembershipChanged,
    UserRegistered,
)
from shared.auth.principal import Role

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "Membership",
    "Org",
    "RefreshToken",
    "SigningKey",
    "User",
    "check_password_policy",
    "normalise_email",
]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128  # bounds the hashing work an anonymous caller can ask for


def normalise_email(email: str) -> str:
    """Return the comparable form of an email address (trimmed, lower case)."""
    return email.strip().lower()


def check_password_policy(password: str) -> None:
    """Raise :class:`PasswordPolicyError` unless the password's length is within bounds."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise PasswordPolicyError()


@dataclass(slots=True)
class Org:
    """A tenant: every org-owned resource carries its id."""

    id: uuid.UUID
    name: str
    created_at: datetime


@dataclass(slots=True)
class User:
    """A person who can sign in. ``email`` and ``display_name`` are personal data."""

    id: uuid.UUID
    email: str
    display_name: str
    password_hash: str
    created_at: datetime
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def register(
        cls,
        *,
        user_id: uuid.UUID,
        email: str,
        display_name: str,
        password_hash: str,
        first_org_id: uuid.UUID,
        now: datetime,
    ) -> User:
        """Create a user who signed up, founding ``first_org_id``; records UserRegistered."""
        user = cls(user_id, normalise_email(email), display_name.strip(), password_hash, now)
        user.events.append(UserRegistered(org_id=first_org_id, occurred_at=now, user_id=user_id))
        return user

    def pull_events(self) -> list[DomainEvent]:
        """Return and forget the events recorded so far."""
        events, self.events = self.events, []
        return events


@dataclass(slots=True)
class Membership:
    """A user's role in an org; records a :class:`MembershipChanged` event on every change."""

    org_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    created_at: datetime
    updated_at: datetime
    events: list[DomainEvent] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def grant(
        cls,
        *,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        role: Role,
        granted_by: Membership | None,
        now: datetime,
    ) -> Membership:
        """Add ``user_id`` to the org with ``role``; ``granted_by`` None means the org's creator.

        Raises:
            OwnerRoleRequiredError: a non-owner tried to grant the owner role.
        """
        if granted_by is not None:
            granted_by._check_may_assign(role)
        membership = cls(org_id, user_id, role, created_at=now, updated_at=now)
        actor = granted_by.user_id if granted_by is not None else user_id
        membership._record(MembershipChange.ADDED, role, None, actor, now)
        return membership

    def change_role(self, role: Role, *, changed_by: Membership, now: datetime) -> bool:
        """Give this member ``role``; return False (and record nothing) if it is unchanged.

        The caller must ensure an org never loses its last owner.

        Raises:
            OwnerRoleRequiredError: a non-owner touched an owner or granted the owner role.
        """
        changed_by._check_may_manage(self)
        changed_by._check_may_assign(role)
        if role == self.role:
            return False
        previous, self.role, self.updated_at = self.role, role, now
        self._record(MembershipChange.ROLE_CHANGED, role, previous, changed_by.user_id, now)
        return True

    def remove(self, *, removed_by: Membership, now: datetime) -> None:
        """Record this member's removal (the repository deletes the row).

        Raises:
            OwnerRoleRequiredError: a non-owner tried to remove an owner.
        """
        removed_by._check_may_manage(self)
        self._record(MembershipChange.REMOVED, None, self.role, removed_by.user_id, now)

    def pull_events(self) -> list[DomainEvent]:
        """Return and forget the events recorded so far."""
        events, self.events = self.events, []
        return events

    def _check_may_manage(self, target: Membership) -> None:
        if target.role == Role.OWNER and self.role != Role.OWNER:
            raise OwnerRoleRequiredError()

    def _check_may_assign(self, role: Role) -> None:
        if role == Role.OWNER and self.role != Role.OWNER:
            raise OwnerRoleRequiredError()

    def _record(
        self,
        change: MembershipChange,
        role: Role | None,
        previous: Role | None,
        actor: uuid.UUID,
        now: datetime,
    ) -> None:
        self.events.append(
            MembershipChanged(
                org_id=self.org_id,
                occurred_at=now,
                user_id=self.user_id,
                change=change,
                role=role,
                previous_role=previous,
                changed_by=actor,
            )
        )


@dataclass(slots=True)
class RefreshToken:
    """One refresh token of a session family; only its SHA-256 hash is stored."""

    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    org_id: uuid.UUID
    token_hash: bytes
    issued_at: datetime
    expires_at: datetime
    replaced_by: uuid.UUID | None = None
    revoked_at: datetime | None = None

    @property
    def spent(self) -> bool:
        """True once the token was rotated or revoked: presenting it again is reuse."""
        return self.replaced_by is not None or self.revoked_at is not None

    def expired(self, now: datetime) -> bool:
        """True once ``expires_at`` has passed."""
        return now >= self.expires_at

    def rotate(self, successor: RefreshToken) -> None:
        """Mark this token as replaced by ``successor`` (same family)."""
        if successor.family_id != self.family_id:
            raise ValueError("a refresh token rotates within its family")
        self.replaced_by = successor.id


@dataclass(slots=True)
class SigningKey:
    """An access-token signing key pair; the private half is stored encrypted.

    Attributes:
        kid: the key id in tokens' headers and in the JWKS.
        public_jwk: the public key as a JWK (with ``kid``, ``alg``, ``use``).
        encrypted_private_key: the private key, sealed with the key-encryption key.
        retired_at: when it stopped signing; None while it is the active key.
    """

    kid: str
    algorithm: str
    public_jwk: dict[str, Any]
    encrypted_private_key: bytes
    created_at: datetime
    retired_at: datetime | None = None

    @property
    def active(self) -> bool:
        """True while this key signs new tokens."""
        return self.retired_at is None

    def retire(self, now: datetime) -> None:
        """Stop signing with this key; it stays published for verification."""
        if self.retired_at is None:
            self.retired_at = now

    def published(self, now: datetime, *, keep_for: timedelta) -> bool:
        """True while tokens it signed may still be valid: active, or retired < ``keep_for`` ago."""
        return self.retired_at is None or now < self.retired_at + keep_for
