"""Access-token verification: one verifier, the same in every service.

Checks, in order: the token parses; its header names an allowed algorithm (EdDSA or ES256,
never ``none``, never HMAC) and a ``kid``; the key with that ``kid`` exists and is of the type
the algorithm needs; the signature; then ``iss``, ``aud``, ``exp``, ``nbf`` and ``iat`` with a
small, bounded clock skew; then the claims Ordo needs (``sub``, ``org_id``, ``roles``, ``jti``).
Any failure is an :class:`~shared.errors.UnauthenticatedError` whose message says nothing about
which check failed beyond "expired" versus "invalid".

A token that passed is remembered (bounded LRU, exact token string) until its own ``exp``: a
client sends the same token with every request for minutes, and the signature check is the
largest CPU cost of an authenticated request. The cache holds only verified tokens, so a
forged or altered one is always fully checked; a key dropped from the JWKS stops being trusted
for new tokens at once, and for remembered ones at their ``exp`` (identity drops a key only
after the tokens it signed have expired).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Collection
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from shared.auth._keys import ALLOWED_ALGORITHMS, KeySource
from shared.auth.principal import Principal, Role
from shared.caching import LocalTTLCache
from shared.errors import UnauthenticatedError

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "MAX_LEEWAY_S",
    "InvalidTokenError",
    "TokenExpiredError",
    "TokenVerifier",
]

# RFC 9068: an access token cannot pass for an ID token.
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105  # nosec B105 - a media type, not a secret
MAX_LEEWAY_S = 60.0
MAX_TOKEN_BYTES = 8192
REQUIRED_CLAIMS = ("sub", "org_id", "roles", "iat", "nbf", "exp", "iss", "aud", "jti")


class InvalidTokenError(UnauthenticatedError):
    """The access token is malformed, badly signed, or not meant for this service."""

    code = "auth.token_invalid"
    default_message = "The access token is invalid."


class TokenExpiredError(UnauthenticatedError):
    """The access token has expired; refresh it."""

    code = "auth.token_expired"
    default_message = "The access token has expired."


class TokenVerifier:
    """Verify Ordo access tokens against an issuer's keys.

    Args:
        keys: where public keys are looked up by ``kid``.
        issuer: the expected ``iss``.
        audience: the accepted ``aud`` value(s); the token must name one of them.
        leeway_s: tolerated clock skew, at most :data:`MAX_LEEWAY_S`.
        algorithms: the allowlist, a subset of EdDSA and ES256.
        cache_size: how many verified tokens to remember until they expire (0: none).
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str | Collection[str],
        leeway_s: float = 30.0,
        algorithms: Collection[str] = ("EdDSA",),
        cache_size: int = 4096,
    ) -> None:
        unknown = set(algorithms) - set(ALLOWED_ALGORITHMS)
        if unknown or not algorithms:
            raise ValueError(f"only {sorted(ALLOWED_ALGORITHMS)} may be allowed, got {unknown}")
        if not 0 <= leeway_s <= MAX_LEEWAY_S:
            raise ValueError(f"leeway must be within 0..{MAX_LEEWAY_S:g}s, got {leeway_s}")
        self._keys = keys
        self._issuer = issuer
        self._audience = [audience] if isinstance(audience, str) else list(audience)
        self._leeway_s = leeway_s
        self._algorithms = frozenset(algorithms)
        self._verified = LocalTTLCache(cache_size, timer=time.time) if cache_size > 0 else None

    async def verify(self, token: str) -> Principal:
        """Return the principal of a valid ``token``.

        Raises:
            TokenExpiredError: the token expired (beyond the leeway).
            InvalidTokenError: any other defect.
            DependencyUnavailableError: the keys could not be fetched at all.
        """
        claims = await self.decode(token)
        return _principal(claims)

    async def decode(self, token: str) -> dict[str, Any]:
        """Return the verified claims of ``token``; see :meth:`verify` for errors."""
        if not token or len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError()
        remembered = self._verified.get(token) if self._verified is not None else None
        if remembered is not None:
            claims: dict[str, Any] = json.loads(remembered)
            return claims
        claims = await self._verify_signature_and_claims(token)
        if self._verified is not None:
            # Until exp exactly: past it, the full check applies the leeway and says "expired".
            self._verified.set(
                token, json.dumps(claims).encode(), float(claims["exp"]) - time.time()
            )
        return claims

    async def _verify_signature_and_claims(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidTokenError() from exc
        algorithm, kid = header.get("alg"), header.get("kid")
        if algorithm not in self._algorithms or not isinstance(kid, str) or not kid:
            raise InvalidTokenError()
        if header.get("typ", "").lower() != ACCESS_TOKEN_TYPE:
            raise InvalidTokenError()
        key = await self._keys.get(kid)
        if key is None or not _fits(key, algorithm):
            raise InvalidTokenError()
        try:
            return jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway_s,
                options={"require": list(REQUIRED_CLAIMS), "strict_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpiredError() from exc
        except jwt.PyJWTError as exc:
            raise InvalidTokenError() from exc


def _fits(key: jwt.PyJWK, algorithm: str) -> bool:
    """True if ``key`` is exactly the public key type ``algorithm`` verifies with."""
    if key.algorithm_name != algorithm or key.key_type != ALLOWED_ALGORITHMS[algorithm][0]:
        return False
    if algorithm == "EdDSA":
        return isinstance(key.key, Ed25519PublicKey)
    return isinstance(key.key, EllipticCurvePublicKey) and isinstance(key.key.curve, SECP256R1)


def _principal(claims: dict[str, Any]) -> Principal:
    try:
        roles = claims["roles"]
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise TypeError("roles must be a list of strings")
        return Principal(
            user_id=uuid.UUID(str(claims["sub"])),
            org_id=uuid.UUID(str(claims["org_id"])),
            roles=frozenset(Role(role) for role in roles),
            token_id=str(claims["jti"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidTokenError() from exc
