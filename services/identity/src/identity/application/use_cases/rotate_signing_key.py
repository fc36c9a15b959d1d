"""RotateSigningKey and EnsureSigningKey: manage the key that signs access tokens."""

from __future__ import annotations

from dataclasses import dataclass

from identity.application.ports import SigningKeyFactory, UnitOfWorkFactory
from identity.application.sessions import TokenPolicy
from shared.clock import Clock
from shared.errors import ConflictError

__all__ = ["EnsureSigningKey", "RotateSigningKey", "Rotation"]


@dataclass(frozen=True, slots=True)
class Rotation:
    """The outcome of a rotation."""

    active_kid: str
    retired_kid: str | None
    deleted: int


class RotateSigningKey:
    """A new key signs from now on; the previous one stays published until every token it
    signed has expired (``key_publish_window``), and keys retired longer ago are deleted.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        factory: SigningKeyFactory,
        clock: Clock,
        policy: TokenPolicy,
    ) -> None:
        self._uow = uow
        self._factory = factory
        self._clock = clock
        self._policy = policy

    async def __call__(self) -> Rotation:
        """Rotate and prune."""
        async with self._uow() as uow:
            now = self._clock.now()
            current = await uow.signing_keys.active(for_update=True)
            if current is not None:
                current.retire(now)
                await uow.signing_keys.save(current)
            fresh = self._factory.create(now=now)
            await uow.signing_keys.add(fresh)
            deleted = await uow.signing_keys.delete_retired_before(
                now - self._policy.key_publish_window
            )
            await uow.commit()
        return Rotation(
            active_kid=fresh.kid,
            retired_kid=current.kid if current is not None else None,
            deleted=deleted,
        )


class EnsureSigningKey:
    """Create the first signing key if there is none; safe to run from several processes."""

    def __init__(self, uow: UnitOfWorkFactory, factory: SigningKeyFactory, clock: Clock) -> None:
        self._uow = uow
        self._factory = factory
        self._clock = clock

    async def __call__(self) -> str:
        """Return the active key's id, creating a key when none is active."""
        async with self._uow() as uow:
            current = await uow.signing_keys.active()
            if current is not None:
                return current.kid
            fresh = self._factory.create(now=self._clock.now())
            try:
                await uow.signing_keys.add(fresh)
                await uow.commit()
            except ConflictError:
                pass  # another process created one first: use theirs
            else:
                return fresh.kid
        async with self._uow() as uow:
            winner = await uow.signing_keys.active()
        if winner is None:
            raise RuntimeError("no active signing key after a concurrent creation")
        return winner.kid
