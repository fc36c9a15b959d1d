"""Signing keys: Ed25519 pairs whose private halves are sealed with a key-encryption key.

The key-encryption key (KEK) is 32 random bytes from the secret store (``signing_kek``,
base64). Private keys are sealed with AES-256-GCM, the key id as associated data, so a sealed
key copied onto another key's row fails to open. Only this module ever sees a private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import datetime
from typing import Any

import jwt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from identity.application.ports import AccessTokenClaims
from identity.domain.model import SigningKey
from shared.auth import ACCESS_TOKEN_TYPE

__all__ = [
    "Ed25519SigningKeyFactory",
    "JwtAccessTokenSigner",
    "KeyEncryptionKey",
    "generate_kek",
]

_VERSION = b"\x01"
_NONCE_BYTES = 12
ALGORITHM = "EdDSA"


def generate_kek() -> str:
    """Return a new key-encryption key, base64-encoded (what the ``signing_kek`` secret holds)."""
    return base64.b64encode(os.urandom(32)).decode()


class KeyEncryptionKey:
    """AES-256-GCM sealing of private keys.

    Args:
        encoded: the base64 (standard or URL-safe) encoding of exactly 32 bytes.
    """

    def __init__(self, encoded: str) -> None:
        text = encoded.strip()
        try:
            raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_") + "==")
        except ValueError as exc:
            raise ValueError("signing_kek must be base64") from exc
        if len(raw) != 32:
            raise ValueError("signing_kek must encode 32 bytes")
        self._aead = AESGCM(raw)

    def seal(self, plaintext: bytes, *, kid: str) -> bytes:
        """Encrypt ``plaintext`` bound to ``kid``."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def open(self, sealed: bytes, *, kid: str) -> bytes:
        """Decrypt what :meth:`seal` produced for ``kid``.

        Raises:
            ValueError: wrong KEK, wrong kid, or tampered ciphertext.
        """
        if sealed[:1] != _VERSION:
            raise ValueError("unknown sealed-key format")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, kid.encode())
        except InvalidTag as exc:
            raise ValueError("the signing key cannot be opened with this KEK") from exc


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint of an OKP key: a stable, collision-free key id."""
    canonical = json.dumps(
        {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":")
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Ed25519SigningKeyFactory:
    """Creates Ed25519 signing keys, the private half sealed with the KEK."""

    def __init__(self, kek: KeyEncryptionKey) -> None:
        self._kek = kek

    def create(self, *, now: datetime) -> SigningKey:
        """Return a new active key whose ``kid`` is its JWK thumbprint."""
        private = Ed25519PrivateKey.generate()
        public_jwk: dict[str, Any] = json.loads(
            jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key())
        )
        kid = _thumbprint(public_jwk)
        public_jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
        raw = private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return SigningKey(
            kid=kid,
            algorithm=ALGORITHM,
            public_jwk=public_jwk,
            encrypted_private_key=self._kek.seal(raw, kid=kid),
            created_at=now,
        )


class JwtAccessTokenSigner:
    """Signs access tokens (typ ``at+jwt``, ``kid`` header), caching opened private keys."""

    def __init__(self, kek: KeyEncryptionKey) -> None:
        self._kek = kek
        self._opened: dict[str, Ed25519PrivateKey] = {}

    def sign(self, claims: AccessTokenClaims, key: SigningKey) -> str:
        """Return the compact JWT signed by ``key``."""
        private = self._opened.get(key.kid)
        if private is None:
            raw = self._kek.open(key.encrypted_private_key, kid=key.kid)
            private = Ed25519PrivateKey.from_private_bytes(raw)
            self._opened = {key.kid: private}  # only the active key is worth keeping
        payload = {
            "sub": str(claims.sub),
            "org_id": str(claims.org_id),
            "roles": [role.value for role in claims.roles],
            "iat": claims.iat,
            "nbf": claims.nbf,
            "exp": claims.exp,
            "iss": claims.iss,
            "aud": claims.aud,
            "jti": claims.jti,
        }
        headers = {"kid": key.kid, "typ": ACCESS_TOKEN_TYPE}
        return jwt.encode(payload, private, algorithm=key.algorithm, headers=headers)
