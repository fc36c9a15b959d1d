"""RemoveMember: take a member out of the caller's org."""

from __future__ import annotations

import uuid

from identity.application.authorization import authorize
from identity.application.ports import UnitOfWorkFactory
from identity.domain.errors import LastOwnerError, MemberNotFoundError
from shared.auth.principal import Principal, Role
from shared.clock import Clock

__all__ = ["RemoveMember"]


class RemoveMember:
    """Owners and admins remove members (``members.remove``); only owners remove owners; the
    last owner stays. The member's refresh tokens for the org stop working at their next use.
    Emits ``membership.changed`` (removed).
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, principal: Principal, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Delete the membership."""
        async with self._uow() as uow:
            actor = await authorize(uow, principal, "members.remove", org_id=org_id)
            target = await uow.memberships.get(org_id=org_id, user_id=user_id, for_update=True)
            if target is None:
                raise MemberNotFoundError()
            target.remove(removed_by=actor, now=self._clock.now())
            if target.role == Role.OWNER and await uow.memberships.count_owners(org_id=org_id) <= 1:
                raise LastOwnerError()
            await uow.memberships.remove(target)
            uow.record(target.pull_events())
            await uow.commit()
