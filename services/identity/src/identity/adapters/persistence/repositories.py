"""SQLAlchemy repositories of identity, all on the unit of work's session.

Org-owned tables are only ever queried with an ``org_id`` predicate (the ports make it a
required keyword). A unique violation is translated into the domain's conflict errors here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from identity.adapters.persistence.tables import (
    memberships,
    orgs,
    refresh_tokens,
    signing_keys,
    users,
)
from identity.application.ports import MemberView, OrgMembershipView
from identity.domain.errors import EmailTakenError, MemberAlreadyExistsError
from identity.domain.model import Membership, Org, RefreshToken, SigningKey, User
from shared.auth.principal import Role
from shared.errors import ConflictError

__all__ = [
    "SqlaMembershipRepository",
    "SqlaOrgRepository",
    "SqlaRefreshTokenRepository",
    "SqlaSigningKeyRepository",
    "SqlaUserRepository",
]


async def _insert(session: AsyncSession, statement: Any, conflict: ConflictError) -> None:
    try:
        async with session.begin_nested():
            await session.execute(statement)
    except IntegrityError as exc:
        raise conflict from exc


class SqlaOrgRepository:
    """Orgs in PostgreSQL."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, org: Org) -> None:
        """Insert the org."""
        await self._session.execute(
            insert(orgs).values(id=org.id, name=org.name, created_at=org.created_at)
        )

    async def get(self, *, org_id: uuid.UUID) -> Org | None:
        """Return the org, or None."""
        row = (await self._session.execute(select(orgs).where(orgs.c.id == org_id))).first()
        return Org(row.id, row.name, row.created_at) if row is not None else None


def _user(row: RowMapping) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
    )


class SqlaUserRepository:
    """Users in PostgreSQL."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, user: User) -> None:
        """Insert the user; a taken email raises ``EmailTakenError``."""
        statement = insert(users).values(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            password_hash=user.password_hash,
            created_at=user.created_at,
        )
        await _insert(self._session, statement, EmailTakenError())

    async def get(self, *, user_id: uuid.UUID) -> User | None:
        """Return the user, or None."""
        result = await self._session.execute(select(users).where(users.c.id == user_id))
        row = result.mappings().first()
        return _user(row) if row is not None else None

    async def get_by_email(self, email: str) -> User | None:
        """Return the user with this normalised email, or None."""
        result = await self._session.execute(select(users).where(users.c.email == email))
        row = result.mappings().first()
        return _user(row) if row is not None else None


def _membership(row: RowMapping) -> Membership:
    return Membership(
        org_id=row["org_id"],
        user_id=row["user_id"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlaMembershipRepository:
    """Memberships in PostgreSQL, every statement filtered by ``org_id``."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, membership: Membership) -> None:
        """Insert; an existing membership raises ``MemberAlreadyExistsError``."""
        statement = insert(memberships).values(
            org_id=membership.org_id,
            user_id=membership.user_id,
            role=membership.role.value,
            created_at=membership.created_at,
            updated_at=membership.updated_at,
        )
        await _insert(self._session, statement, MemberAlreadyExistsError())

    async def get(
        self, *, org_id: uuid.UUID, user_id: uuid.UUID, for_update: bool = False
    ) -> Membership | None:
        """Return the membership (row-locked when ``for_update``), or None."""
        query = select(memberships).where(
            memberships.c.org_id == org_id, memberships.c.user_id == user_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _membership(row) if row is not None else None

    async def save(self, membership: Membership) -> None:
        """Write the role."""
        await self._session.execute(
            update(memberships)
            .where(
                memberships.c.org_id == membership.org_id,
                memberships.c.user_id == membership.user_id,
            )
            .values(role=membership.role.value, updated_at=membership.updated_at)
        )

    async def remove(self, membership: Membership) -> None:
        """Delete the row."""
        await self._session.execute(
            delete(memberships).where(
                memberships.c.org_id == membership.org_id,
                memberships.c.user_id == membership.user_id,
            )
        )

    async def list_members(
        self, *, org_id: uuid.UUID, after: uuid.UUID | None, limit: int
    ) -> Sequence[MemberView]:
        """Return up to ``limit`` members with their names, by user id, after ``after``."""
        query = (
            select(
                memberships.c.user_id,
                memberships.c.role,
                memberships.c.created_at,
                users.c.email,
                users.c.display_name,
            )
            .join(users, users.c.id == memberships.c.user_id)
            .where(memberships.c.org_id == org_id)
            .order_by(memberships.c.user_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(memberships.c.user_id > after)
        rows = (await self._session.execute(query)).all()
        return [
            MemberView(r.user_id, r.email, r.display_name, Role(r.role), r.created_at) for r in rows
        ]

    async def count_owners(self, *, org_id: uuid.UUID) -> int:
        """Lock the org's owner rows and count them (two demotions cannot both pass)."""
        locked = (
            select(memberships.c.user_id)
            .where(memberships.c.org_id == org_id, memberships.c.role == Role.OWNER.value)
            .with_for_update()
        )
        rows = (await self._session.execute(locked)).all()
        return len(rows)

    async def list_for_user(self, *, user_id: uuid.UUID) -> Sequence[OrgMembershipView]:
        """Return the user's own memberships with org names, oldest first."""
        query = (
            select(memberships.c.org_id, memberships.c.role, orgs.c.name)
            .join(orgs, orgs.c.id == memberships.c.org_id)
            .where(memberships.c.user_id == user_id)
            .order_by(memberships.c.created_at, memberships.c.org_id)
        )
        rows = (await self._session.execute(query)).all()
        return [OrgMembershipView(r.org_id, r.name, Role(r.role)) for r in rows]


def _refresh(row: RowMapping) -> RefreshToken:
    return RefreshToken(
        id=row["id"],
        family_id=row["family_id"],
        user_id=row["user_id"],
        org_id=row["org_id"],
        token_hash=row["token_hash"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        replaced_by=row["replaced_by"],
        revoked_at=row["revoked_at"],
    )


class SqlaRefreshTokenRepository:
    """Refresh tokens in PostgreSQL."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, token: RefreshToken) -> None:
        """Insert the token."""
        await self._session.execute(
            insert(refresh_tokens).values(
                id=token.id,
                family_id=token.family_id,
                user_id=token.user_id,
                org_id=token.org_id,
                token_hash=token.token_hash,
                issued_at=token.issued_at,
                expires_at=token.expires_at,
                replaced_by=token.replaced_by,
                revoked_at=token.revoked_at,
            )
        )

    async def get_by_hash(self, token_hash: bytes) -> RefreshToken | None:
        """Return the token, row-locked so concurrent uses of it serialise."""
        query = (
            select(refresh_tokens)
            .where(refresh_tokens.c.token_hash == token_hash)
            .with_for_update()
        )
        row = (await self._session.execute(query)).mappings().first()
        return _refresh(row) if row is not None else None

    async def save(self, token: RefreshToken) -> None:
        """Write rotation and revocation."""
        await self._session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.id == token.id)
            .values(replaced_by=token.replaced_by, revoked_at=token.revoked_at)
        )

    async def revoke_family(self, *, family_id: uuid.UUID, now: datetime) -> int:
        """Revoke every live token of the family."""
        result = await self._session.execute(
            update(refresh_tokens)
            .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _key(row: RowMapping) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        algorithm=row["algorithm"],
        public_jwk=dict(row["public_jwk"]),
        encrypted_private_key=row["encrypted_private_key"],
        created_at=row["created_at"],
        retired_at=row["retired_at"],
    )


class SqlaSigningKeyRepository:
    """Signing keys in PostgreSQL; a partial unique index allows one active key."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: SigningKey) -> None:
        """Insert; a second active key raises ``ConflictError``."""
        statement = insert(signing_keys).values(
            kid=key.kid,
            algorithm=key.algorithm,
            public_jwk=key.public_jwk,
            encrypted_private_key=key.encrypted_private_key,
            created_at=key.created_at,
            retired_at=key.retired_at,
        )
        await _insert(self._session, statement, ConflictError("A signing key is already active."))

    async def active(self, *, for_update: bool = False) -> SigningKey | None:
        """Return the active key, or None."""
        query = select(signing_keys).where(signing_keys.c.retired_at.is_(None))
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _key(row) if row is not None else None

    async def published(self, *, now: datetime, keep_for: timedelta) -> Sequence[SigningKey]:
        """Return the active key and the keys retired within ``keep_for``, newest first."""
        query = (
            select(signing_keys)
            .where(
                signing_keys.c.retired_at.is_(None) | (signing_keys.c.retired_at > now - keep_for)
            )
            .order_by(signing_keys.c.created_at.desc())
        )
        rows = (await self._session.execute(query)).mappings().all()
        return [_key(row) for row in rows]

    async def save(self, key: SigningKey) -> None:
        """Write the retirement."""
        await self._session.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == key.kid)
            .values(retired_at=key.retired_at)
        )

    async def delete_retired_before(self, cutoff: datetime) -> int:
        """Delete keys retired before ``cutoff``."""
        result = await self._session.execute(
            delete(signing_keys).where(signing_keys.c.retired_at < cutoff)
        )
        return int(getattr(result, "rowcount", 0) or 0)
