"""ListMembers: the members of the caller's org with their roles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from identity.application.authorization import authorize
from identity.application.ports import MemberView, UnitOfWorkFactory
from shared.auth.principal import Principal

__all__ = ["ListMembers"]


class ListMembers:
    """Any member may list their org's members (``members.list``); another org is 404."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, principal: Principal, org_id: uuid.UUID) -> Sequence[MemberView]:
        """Return the members, oldest first."""
        async with self._uow() as uow:
            await authorize(uow, principal, "members.list", org_id=org_id)
            return await uow.memberships.list_members(org_id=org_id)
