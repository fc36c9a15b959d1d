"""Key rotation: the new key signs, the old one verifies until its tokens expired, then goes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from identity.adapters.crypto.keys import KeyEncryptionKey, generate_kek
from identity.application.use_cases.sign_up import SignUpInput
from shared.auth import InvalidTokenError, JwksKeySource, TokenVerifier


async def test_rotation_keeps_old_tokens_valid_until_the_window_ends(world) -> None:
    session = await world.use_cases.sign_up(
        SignUpInput("ada@example.com", "a long enough password", "Ada", "Org")
    )
    old_kid = next(iter(world.store.keys))
    rotation = await world.use_cases.rotate_signing_key()
    assert rotation.retired_kid == old_kid
    jwks = await world.use_cases.get_jwks()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, rotation.active_kid}
    assert all("d" not in k for k in jwks["keys"])
    await world.verify(session.access_token)  # signed by the previous key: still valid
    fresh = await world.use_cases.refresh_session(session.refresh_token)
    assert fresh.access_token.count(".") == 2
    # Past the publish window the retired key leaves the JWKS; the next rotation deletes it.
    world.clock.advance(world.policy.key_publish_window + timedelta(seconds=1))
    assert {k["kid"] for k in (await world.use_cases.get_jwks())["keys"]} == {rotation.active_kid}
    again = await world.use_cases.rotate_signing_key()
    assert again.deleted == 1
    keys = JwksKeySource(world.use_cases.get_jwks, ttl_s=0, min_refetch_interval_s=0)
    verifier = TokenVerifier(keys, issuer="https://identity.test", audience="ordo-test")
    with pytest.raises(InvalidTokenError):
        await verifier.verify(session.access_token)


async def test_private_keys_are_sealed_with_the_kek_and_bound_to_their_kid(world) -> None:
    key = next(iter(world.store.keys.values()))
    assert b"PRIVATE" not in key.encrypted_private_key
    with pytest.raises(ValueError, match="cannot be opened"):
        KeyEncryptionKey(generate_kek()).open(key.encrypted_private_key, kid=key.kid)
    with pytest.raises(ValueError, match="cannot be opened"):
        KeyEncryptionKey(world_kek(world)).open(key.encrypted_private_key, kid="another")


def world_kek(world) -> str:
    return world.kek


async def test_ensure_signing_key_is_idempotent(world) -> None:
    first = await world.use_cases.ensure_signing_key()
    assert await world.use_cases.ensure_signing_key() == first
    assert len(world.store.keys) == 1
