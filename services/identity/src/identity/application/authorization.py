"""Authorizing a principal inside an org, from the token and then from the database.

The token's roles are checked first (cheap, and another org's resource is 404 before any
query). The member's *current* role is then read in the same transaction and checked again, so
a member removed or demoted minutes ago cannot use an access token that is still unexpired.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from identity.application.permissions import POLICY
from identity.application.ports import UnitOfWork
from identity.domain.errors import OrgNotFoundError
from identity.domain.model import Membership
from shared.auth.principal import Principal

__all__ = ["authorize"]


async def authorize(
    uow: UnitOfWork, principal: Principal, permission: str, *, org_id: uuid.UUID
) -> Membership:
    """Return the caller's membership in ``org_id`` if it holds ``permission``.

    Raises:
        OrgNotFoundError: ``org_id`` is not the caller's org, or the caller left it.
        PermissionDeniedError: the caller's role lacks ``permission``.
    """
    POLICY.require(principal, permission, org_id=org_id, not_found=OrgNotFoundError)
    membership = await uow.memberships.get(org_id=org_id, user_id=principal.user_id)
    if membership is None:
        raise OrgNotFoundError()
    current = replace(principal, roles=frozenset({membership.role}))
    POLICY.require(current, permission, org_id=org_id, not_found=OrgNotFoundError)
    return membership
