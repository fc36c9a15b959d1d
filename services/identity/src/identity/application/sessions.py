"""Issuing a session: a short-lived access token and a rotating, opaque refresh token.

Shared by the use cases that sign someone in (sign up, log in, refresh, switch org). A refresh
token is 256 random bits shown once to the client; only its SHA-256 is stored, which is enough
for a secret of that entropy (a slow hash protects low-entropy passwords, not random tokens).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from identity.application.ports import AccessTokenClaims, AccessTokenSigner, UnitOfWork
from identity.domain.errors import SigningKeyMissingError
from identity.domain.model import RefreshToken
from shared.auth.principal import Role
from shared.clock import Clock
from shared.ids import new_id

__all__ = ["IssuedSession", "SessionIssuer", "TokenPolicy", "hash_refresh_token"]


def hash_refresh_token(secret: str) -> bytes:
    """Return the stored form of a refresh token."""
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """Issuer, audience and lifetimes of the tokens identity issues.

    ``key_publish_window`` is how long a retired signing key stays in the JWKS: at least the
    access-token lifetime plus the verifiers' clock skew, so no valid token loses its key.
    """

    issuer: str
    audience: str
    access_ttl: timedelta
    refresh_ttl: timedelta
    key_publish_window: timedelta

    def __post_init__(self) -> None:
        if not timedelta(minutes=5) <= self.access_ttl <= timedelta(minutes=15):
            raise ValueError("access tokens live 5 to 15 minutes")
        if self.key_publish_window < self.access_ttl:
            raise ValueError("retired keys must stay published at least one access-token TTL")


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """What the client receives after signing in."""

    access_token: str
    expires_in: int
    refresh_token: str
    user_id: uuid.UUID
    org_id: uuid.UUID
    role: Role


class SessionIssuer:
    """Creates access tokens and refresh tokens inside the caller's unit of work."""

    def __init__(self, signer: AccessTokenSigner, clock: Clock, policy: TokenPolicy) -> None:
        self._signer = signer
        self._clock = clock
        self._policy = policy

    async def issue(
        self,
        uow: UnitOfWork,
        *,
        user_id: uuid.UUID,
        org_id: uuid.UUID,
        role: Role,
        rotating: RefreshToken | None = None,
    ) -> IssuedSession:
        """Sign an access token and stage a refresh token (rotating ``rotating`` if given)."""
        key = await uow.signing_keys.active()
        if key is None:
            raise SigningKeyMissingError()
        now = self._clock.now()
        iat = int(now.timestamp())
        ttl = int(self._policy.access_ttl.total_seconds())
        claims = AccessTokenClaims(
            sub=user_id,
            org_id=org_id,
            roles=(role,),
            iat=iat,
            nbf=iat,
            exp=iat + ttl,
            iss=self._policy.issuer,
            aud=self._policy.audience,
            jti=str(new_id()),
        )
        secret = secrets.token_urlsafe(32)
        refresh = RefreshToken(
            id=new_id(),
            family_id=rotating.family_id if rotating is not None else new_id(),
            user_id=user_id,
            org_id=org_id,
            token_hash=hash_refresh_token(secret),
            issued_at=now,
            expires_at=now + self._policy.refresh_ttl,
        )
        await uow.refresh_tokens.add(refresh)
        if rotating is not None:
            rotating.rotate(refresh)
            await uow.refresh_tokens.save(rotating)
        return IssuedSession(
            access_token=self._signer.sign(claims, key),
            expires_in=ttl,
            refresh_token=secret,
            user_id=user_id,
            org_id=org_id,
            role=role,
        )
