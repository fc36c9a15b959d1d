"""GetJwks: the public keys that verify identity's access tokens."""

from __future__ import annotations

from typing import Any

from identity.application.ports import UnitOfWorkFactory
from identity.application.sessions import TokenPolicy
from shared.clock import Clock

__all__ = ["GetJwks"]


class GetJwks:
    """Publish the active key and every retired key whose tokens may still be valid."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, policy: TokenPolicy) -> None:
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def __call__(self) -> dict[str, Any]:
        """Return the JWKS document."""
        async with self._uow() as uow:
            keys = await uow.signing_keys.published(
                now=self._clock.now(), keep_for=self._policy.key_publish_window
            )
        return {"keys": [dict(key.public_jwk) for key in keys]}
