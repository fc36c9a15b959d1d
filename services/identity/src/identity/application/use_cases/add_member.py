"""AddMember: add an existing user, found by email, to the caller's org with a role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from identity.application.authorization import authorize
from identity.application.ports import MemberView, UnitOfWork, UnitOfWorkFactory
from identity.domain.errors import MemberAlreadyExistsError, UserNotFoundError
from identity.domain.model import Membership, normalise_email
from shared.auth.principal import Principal, Role
from shared.clock import Clock
from shared.idempotency import IdempotentAnswer, IdempotentRequest, claim, complete

__all__ = ["AddMember", "AddMemberInput"]

OPERATION = "add_member"


@dataclass(frozen=True, slots=True)
class AddMemberInput:
    """Who to add, and as what."""

    email: str
    role: Role


class AddMember:
    """Owners and admins add members (``members.add``); only an owner may add an owner.

    The user must already have signed up (404 ``user.not_found``); adding a member twice is a
    409. Emits ``membership.changed`` (added).
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, principal: Principal, org_id: uuid.UUID, form: AddMemberInput
    ) -> MemberView:
        """Create the membership; return the new member."""
        async with self._uow() as uow:
            actor = await authorize(uow, principal, "members.add", org_id=org_id)
            member = await self._add(uow, actor, org_id, form)
            await uow.commit()
        return member

    async def once(
        self,
        principal: Principal,
        org_id: uuid.UUID,
        form: AddMemberInput,
        request: IdempotentRequest[MemberView],
    ) -> IdempotentAnswer:
        """Add the member unless ``request``'s key already did; the response to send.

        The key is scoped ``<org_id>:add_member`` and claimed after authorization, so a caller
        without ``members.add`` learns nothing about the org's keys.

        Raises:
            IdempotencyKeyReusedError: the key was used with another body (422).
            IdempotencyInProgressError: the same request is still in flight (409).
        """
        scope = f"{org_id}:{OPERATION}"
        async with self._uow() as uow:
            actor = await authorize(uow, principal, "members.add", org_id=org_id)
            replay = await claim(uow, scope, request)
            if replay is not None:
                return replay
            member = await self._add(uow, actor, org_id, form)
            answer = await complete(uow, scope, request, member)
            await uow.commit()
        return answer

    async def _add(
        self, uow: UnitOfWork, actor: Membership, org_id: uuid.UUID, form: AddMemberInput
    ) -> MemberView:
        user = await uow.users.get_by_email(normalise_email(form.email))
        if user is None:
            raise UserNotFoundError()
        if await uow.memberships.get(org_id=org_id, user_id=user.id) is not None:
            raise MemberAlreadyExistsError()
        now = self._clock.now()
        membership = Membership.grant(
            org_id=org_id, user_id=user.id, role=form.role, granted_by=actor, now=now
        )
        await uow.memberships.add(membership)
        uow.record(membership.pull_events())
        return MemberView(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            role=membership.role,
            joined_at=membership.created_at,
        )
