"""RefreshSession: trade a refresh token for a new access token and a new refresh token."""

from __future__ import annotations

from identity.application.ports import UnitOfWorkFactory
from identity.application.sessions import IssuedSession, SessionIssuer, hash_refresh_token
from identity.domain.errors import (
    RefreshTokenExpiredError,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
)
from shared.clock import Clock

__all__ = ["RefreshSession"]


class RefreshSession:
    """Rotate a refresh token: each one works once.

    Presenting a token that was already rotated or revoked is reuse, the sign of a stolen token:
    the whole family (every token descended from the same sign-in) is revoked and the caller
    gets 401 ``auth.refresh_token_reused``. A member removed from the org loses the session.
    The access token carries the member's current role, read at refresh time.
    """

    def __init__(self, uow: UnitOfWorkFactory, sessions: SessionIssuer, clock: Clock) -> None:
        self._uow = uow
        self._sessions = sessions
        self._clock = clock

    async def __call__(self, refresh_token: str) -> IssuedSession:
        """Return the next session of the token's family."""
        async with self._uow() as uow:
            token = await uow.refresh_tokens.get_by_hash(hash_refresh_token(refresh_token))
            if token is None:
                raise RefreshTokenInvalidError()
            now = self._clock.now()
            if token.spent:
                # Commit the revocation before failing: the error must not roll it back.
                await uow.refresh_tokens.revoke_family(family_id=token.family_id, now=now)
                await uow.commit()
                raise RefreshTokenReusedError()
            if token.expired(now):
                raise RefreshTokenExpiredError()
            membership = await uow.memberships.get(org_id=token.org_id, user_id=token.user_id)
            if membership is None:
                await uow.refresh_tokens.revoke_family(family_id=token.family_id, now=now)
                await uow.commit()
                raise RefreshTokenInvalidError()
            session = await self._sessions.issue(
                uow,
                user_id=token.user_id,
                org_id=token.org_id,
                role=membership.role,
                rotating=token,
            )
            await uow.commit()
        return session
