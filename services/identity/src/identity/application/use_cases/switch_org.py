"""SwitchOrg: move a signed-in user's session to another org they belong to."""

from __future__ import annotations

import uuid

from identity.application.ports import UnitOfWorkFactory
from identity.application.sessions import IssuedSession, SessionIssuer, hash_refresh_token
from identity.domain.errors import OrgNotFoundError
from shared.auth.principal import Principal
from shared.clock import Clock

__all__ = ["SwitchOrg"]


class SwitchOrg:
    """Issue a session in ``org_id`` for the caller, who must be a member there (else 404).

    A new refresh-token family starts; the refresh token the caller held (if given, and theirs)
    is revoked with its family, so one sign-in does not keep two live sessions.
    """

    def __init__(self, uow: UnitOfWorkFactory, sessions: SessionIssuer, clock: Clock) -> None:
        self._uow = uow
        self._sessions = sessions
        self._clock = clock

    async def __call__(
        self, principal: Principal, org_id: uuid.UUID, refresh_token: str | None = None
    ) -> IssuedSession:
        """Return a session in ``org_id``."""
        async with self._uow() as uow:
            membership = await uow.memberships.get(org_id=org_id, user_id=principal.user_id)
            if membership is None:
                raise OrgNotFoundError()
            if refresh_token:
                old = await uow.refresh_tokens.get_by_hash(hash_refresh_token(refresh_token))
                if old is not None and old.user_id == principal.user_id:
                    await uow.refresh_tokens.revoke_family(
                        family_id=old.family_id, now=self._clock.now()
                    )
            session = await self._sessions.issue(
                uow, user_id=principal.user_id, org_id=org_id, role=membership.role
            )
            await uow.commit()
        return session
