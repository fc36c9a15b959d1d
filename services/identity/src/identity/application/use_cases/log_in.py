"""LogIn: exchange an email and password for a session in one of the user's orgs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from identity.application.ports import PasswordHasher, UnitOfWorkFactory
from identity.application.sessions import IssuedSession, SessionIssuer
from identity.domain.errors import InvalidCredentialsError, NoMembershipError, OrgNotFoundError
from identity.domain.model import MAX_PASSWORD_LENGTH, normalise_email

__all__ = ["LogIn", "LogInInput"]


@dataclass(frozen=True, slots=True)
class LogInInput:
    """Credentials, and optionally the org to sign in to (default: the user's first)."""

    email: str
    password: str
    org_id: uuid.UUID | None = None


class LogIn:
    """Sign a user in with their password.

    An unknown email and a wrong password fail alike (401 ``auth.invalid_credentials``), and
    take the same time (a hash is verified either way), so accounts cannot be enumerated.
    Asking for an org the user is not a member of answers 404.
    """

    def __init__(
        self, uow: UnitOfWorkFactory, hasher: PasswordHasher, sessions: SessionIssuer
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._sessions = sessions

    async def __call__(self, form: LogInInput) -> IssuedSession:
        """Verify the credentials; return a session."""
        if len(form.password) > MAX_PASSWORD_LENGTH:
            raise InvalidCredentialsError()
        async with self._uow() as uow:
            user = await uow.users.get_by_email(normalise_email(form.email))
            stored = user.password_hash if user is not None else None
            if not await self._hasher.verify(stored, form.password) or user is None:
                raise InvalidCredentialsError()
            memberships = await uow.memberships.list_for_user(user_id=user.id)
            if form.org_id is None:
                if not memberships:
                    raise NoMembershipError()
                chosen = memberships[0]
            else:
                found = [m for m in memberships if m.org_id == form.org_id]
                if not found:
                    raise OrgNotFoundError()
                chosen = found[0]
            session = await self._sessions.issue(
                uow, user_id=user.id, org_id=chosen.org_id, role=chosen.role
            )
            await uow.commit()
        return session
