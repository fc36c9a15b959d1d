"""SignUp: a new person creates their user and an org, of which they become the owner.

With an Idempotency-Key (:meth:`SignUp.once`), a retried sign-up creates nothing twice. The
caller is anonymous, so there is no org to scope the key by: it is scoped by the normalised
email (as a SHA-256 digest, no PII in the records), which is what a sign-up creates and which
is unique. Keys of different people never meet (two clients picking the same key do not see
each other's 422s), and a twin request is necessarily for the same email. The response is a
session whose tokens must never be stored in clear: the record keeps only the user and org
ids, and a replay checks the password against the user's hash and issues a fresh session. The
password is likewise kept out of the fingerprint (an unsalted hash of it would be crackable);
a replay with another password is the "other body" case, 422 ``idempotency.key_reused``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from identity.application.ports import PasswordHasher, UnitOfWork, UnitOfWorkFactory
from identity.application.sessions import IssuedSession, SessionIssuer
from identity.domain.errors import EmailTakenError, OrgNotFoundError
from identity.domain.model import (
    Membership,
    Org,
    User,
    check_password_policy,
    normalise_email,
)
from shared.auth.principal import Role
from shared.clock import Clock
from shared.idempotency import (
    CreatingOperation,
    IdempotencyKeyReusedError,
    IdempotentResponse,
)
from shared.ids import new_id

__all__ = ["SignUp", "SignUpInput", "SignedUp"]

OPERATION = "sign_up"


@dataclass(frozen=True, slots=True)
class SignUpInput:
    """A sign-up form."""

    email: str
    password: str
    display_name: str
    org_name: str


@dataclass(frozen=True, slots=True)
class SignedUp:
    """A sign-up's session; ``replayed`` when an earlier request with the key created it."""

    session: IssuedSession
    replayed: bool


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
        creating: CreatingOperation[Mapping[str, str]],
    ) -> None:
        self._creating = creating
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
            session = await self._create(uow, form, email, password_hash)
            await uow.commit()
        return session

    async def once(self, form: SignUpInput, key: str) -> SignedUp:
        """Sign up unless an earlier request with ``key`` (for this email) already did.

        Raises:
            IdempotencyKeyReusedError: the key was used with another body or password (422).
            IdempotencyInProgressError: the same request is still in flight (409).
        """
        check_password_policy(form.password)
        email = normalise_email(form.email)
        scope = f"{OPERATION}:{hashlib.sha256(email.encode()).hexdigest()}"
        body = {"email": email, "display_name": form.display_name, "org_name": form.org_name}
        fingerprint = self._creating.fingerprint(body)
        password_hash = await self._hasher.hash(form.password)
        async with self._uow() as uow:
            stored = await uow.idempotency.claim(scope=scope, key=key, fingerprint=fingerprint)
            if stored is not None:
                session = await self._replay(uow, form, stored)
            else:
                session = await self._create(uow, form, email, password_hash)
                ids = {"user_id": str(session.user_id), "org_id": str(session.org_id)}
                response = self._creating.render(ids)
                await uow.idempotency.complete(scope=scope, key=key, response=response)
            await uow.commit()
        return SignedUp(session, replayed=stored is not None)

    async def _replay(
        self, uow: UnitOfWork, form: SignUpInput, stored: IdempotentResponse
    ) -> IssuedSession:
        """A fresh session for the user the key created, if the password is theirs."""
        user = await uow.users.get(user_id=uuid.UUID(str(stored.body["user_id"])))
        if user is None or not await self._hasher.verify(user.password_hash, form.password):
            raise IdempotencyKeyReusedError()
        org_id = uuid.UUID(str(stored.body["org_id"]))
        membership = await uow.memberships.get(org_id=org_id, user_id=user.id)
        if membership is None:
            raise OrgNotFoundError()
        return await self._sessions.issue(uow, user_id=user.id, org_id=org_id, role=membership.role)

    async def _create(
        self, uow: UnitOfWork, form: SignUpInput, email: str, password_hash: str
    ) -> IssuedSession:
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
        return await self._sessions.issue(uow, user_id=user.id, org_id=org.id, role=Role.OWNER)
