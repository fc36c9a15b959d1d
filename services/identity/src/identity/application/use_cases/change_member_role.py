"""ChangeMemberRole: give a member of the caller's org another role."""

from __future__ import annotations

import uuid

from identity.application.authorization import authorize
from identity.application.ports import MemberView, UnitOfWorkFactory
from identity.domain.errors import LastOwnerError, MemberNotFoundError
from shared.auth.principal import Principal, Role
from shared.clock import Clock

__all__ = ["ChangeMemberRole"]


class ChangeMemberRole:
    """Owners and admins change roles (``members.change_role``); only owners grant the owner
    role or change an owner's; the last owner cannot be demoted. Emits ``membership.changed``.
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID, role: Role
    ) -> MemberView:
        """Change the role; return the member as they now are."""
        async with self._uow() as uow:
            actor = await authorize(uow, principal, "members.change_role", org_id=org_id)
            target = await uow.memberships.get(org_id=org_id, user_id=user_id, for_update=True)
            if target is None:
                raise MemberNotFoundError()
            if target.user_id == actor.user_id:
                actor = target  # one object, so a self-change is seen by both sides
            demoting_owner = target.role == Role.OWNER and role != Role.OWNER
            changed = target.change_role(role, changed_by=actor, now=self._clock.now())
            if demoting_owner and await uow.memberships.count_owners(org_id=org_id) <= 1:
                raise LastOwnerError()
            user = await uow.users.get(user_id=target.user_id)
            if user is None:
                raise MemberNotFoundError()
            if changed:
                await uow.memberships.save(target)
                uow.record(target.pull_events())
                await uow.commit()
        return MemberView(user.id, user.email, user.display_name, target.role, target.created_at)
