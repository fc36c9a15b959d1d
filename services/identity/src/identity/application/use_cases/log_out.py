"""LogOut: end the session a refresh token belongs to."""

from __future__ import annotations

from identity.application.ports import UnitOfWorkFactory
from identity.application.sessions import hash_refresh_token
from shared.clock import Clock

__all__ = ["LogOut"]


class LogOut:
    """Revoke the refresh token's whole family; idempotent, and silent about unknown tokens.

    Access tokens already issued stay valid until they expire (minutes): they are not tracked.
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, refresh_token: str) -> None:
        """Revoke the family, if the token is known."""
        async with self._uow() as uow:
            token = await uow.refresh_tokens.get_by_hash(hash_refresh_token(refresh_token))
            if token is None:
                return
            await uow.refresh_tokens.revoke_family(family_id=token.family_id, now=self._clock.now())
            await uow.commit()
