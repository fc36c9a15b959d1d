"""Access tokens signed the way identity signs them, with a key of the test's own.

::

    tokens = TokenIssuer()
    app = build_app(settings, keys=tokens.keys)           # the service verifies with this key
    await client.get("/orders", headers=tokens.bearer(org_id, "viewer"))

Tokens are EdDSA JWTs with a ``kid`` and ``typ: at+jwt`` and the claims Ordo requires (``sub``,
``org_id``, ``roles``, ``iat``, ``nbf``, ``exp``, ``iss``, ``aud``, ``jti``), as
``shared.auth.TokenVerifier`` checks them.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.auth import ACCESS_TOKEN_TYPE, StaticKeySource

__all__ = ["TokenIssuer"]


class TokenIssuer:
    """Signs access tokens for tests with one Ed25519 key; :attr:`keys` verifies them.

    Args:
        issuer: the ``iss`` of every token (the service's ``auth.issuer`` in the test).
        audience: the ``aud`` of every token (the service's ``auth.audience``).
        kid: the key id, in the token header and the JWKS.
        ttl_s: how long a token lives.
    """

    def __init__(
        self,
        *,
        issuer: str = "https://identity.test",
        audience: str = "ordo-test",
        kid: str = "test-key",
        ttl_s: int = 300,
    ) -> None:
        self.issuer, self.audience, self.kid, self.ttl_s = issuer, audience, kid, ttl_s
        self.private = Ed25519PrivateKey.generate()
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=kid, alg="EdDSA", use="sig")
        self.jwks: dict[str, Any] = {"keys": [jwk]}
        self.keys = StaticKeySource(self.jwks)

    def token(
        self, org_id: uuid.UUID, *roles: str, user_id: uuid.UUID | None = None, **claims: Any
    ) -> str:
        """A token of a caller in ``org_id`` with ``roles``; ``claims`` override any claim."""
        now = int(time.time())
        body: dict[str, Any] = {
            "sub": str(user_id or uuid.uuid4()),
            "org_id": str(org_id),
            "roles": list(roles),
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl_s,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": str(uuid.uuid4()),
            **claims,
        }
        headers = {"kid": self.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(body, self.private, algorithm="EdDSA", headers=headers)

    def bearer(
        self, org_id: uuid.UUID, *roles: str, user_id: uuid.UUID | None = None
    ) -> dict[str, str]:
        """The ``Authorization`` header of :meth:`token`."""
        return {"Authorization": f"Bearer {self.token(org_id, *roles, user_id=user_id)}"}
