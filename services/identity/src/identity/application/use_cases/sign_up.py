"""SignUp: a new person creates their user and an org, of which they become the owner."""

from __future__ import annotations

from dataclasses import dataclass

from identity.application.ports import PasswordHasher, UnitOfWorkFactory
from identity.application.sessions import IssuedSession, SessionIssuer
from identity.domain.errors import EmailTakenError
from identity.domain.model import (
    Membership,
    Org,
    User,
    check_password_policy,
    normalise_email,
)
from shared.auth.principal import Role
from shared.clock import Clock
from shared.ids import new_id

__all__ = ["SignUp", "SignUpInput"]


@dataclass(frozen=True, slots=True)
class SignUpInput:
    """A sign-up form."""

    email: str
    password: str
    display_name: str
    org_name: str


class SignUp:
    """Register a user and their first org; the user is its owner.

    An email address belongs to one user only (409 ``user.email_taken``); the password must
    meet the policy. Emits ``user.registered`` and ``membership.changed`` (added, owner).
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        hasher: PasswordHasher,
        sessions: SessionIssuer,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._hasher = hasher
        self._sessions = sessions
        self._clock = clock

    async def __call__(self, form: SignUpInput) -> IssuedSession:
        """Create the user, org and owner membership; return a session in the new org."""
        check_password_policy(form.password)
        email = normalise_email(form.email)
        password_hash = await self._hasher.hash(form.password)
        async with self._uow() as uow:
            if await uow.users.get_by_email(email) is not None:
                raise EmailTakenError()
            now = self._clock.now()
            org = Org(id=new_id(), name=form.org_name.strip(), created_at=now)
            user = User.register(
                user_id=new_id(),
                email=email,
                display_name=form.display_name,
                password_hash=password_hash,
                first_org_id=org.id,
                now=now,
            )
            owner = Membership.grant(
                org_id=org.id, user_id=user.id, role=Role.OWNER, granted_by=None, now=now
            )
            await uow.orgs.add(org)
            await uow.users.add(user)
            await uow.memberships.add(owner)
            uow.record(user.pull_events())
            uow.record(owner.pull_events())
            session = await self._sessions.issue(
                uow, user_id=user.id, org_id=org.id, role=Role.OWNER
            )
            await uow.commit()
        return session
