"""GetOrg: read the caller's org."""

from __future__ import annotations

import uuid

from identity.application.authorization import authorize
from identity.application.ports import UnitOfWorkFactory
from identity.domain.errors import OrgNotFoundError
from identity.domain.model import Org
from shared.auth.principal import Principal

__all__ = ["GetOrg"]


class GetOrg:
    """Any member may read their org (``org.read``); another org is 404."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(self, principal: Principal, org_id: uuid.UUID) -> Org:
        """Return the org."""
        async with self._uow() as uow:
            await authorize(uow, principal, "org.read", org_id=org_id)
            org = await uow.orgs.get(org_id=org_id)
        if org is None:
            raise OrgNotFoundError()
        return org
