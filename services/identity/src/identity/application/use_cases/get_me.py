"""GetMe: who the caller is, the org they act in, and every org they belong to."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from identity.application.ports import OrgMembershipView, UnitOfWorkFactory
from shared.auth.principal import Principal, Role
from shared.errors import UnauthenticatedError

__all__ = ["GetMe", "MeView"]


@dataclass(frozen=True, slots=True)
class MeView:
    """The caller's profile and memberships."""

    user_id: uuid.UUID
    email: str
    display_name: str
    org_id: uuid.UUID
    role: Role | None
    memberships: Sequence[OrgMembershipView]


class GetMe:
    """Return the caller's own profile; a deleted user's token is refused (401).

    ``role`` is the caller's current role in the token's org (None if they were removed).
    """

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, principal: Principal) -> MeView:
        """Read the caller's user and memberships."""
        async with self._uow() as uow:
            user = await uow.users.get(user_id=principal.user_id)
            if user is None:
                raise UnauthenticatedError()
            memberships = await uow.memberships.list_for_user(user_id=user.id)
        role = next((m.role for m in memberships if m.org_id == principal.org_id), None)
        return MeView(
            user_id=user.id,
            email=user.email,
            display_name=user.display_name,
            org_id=principal.org_id,
            role=role,
            memberships=memberships,
        )
