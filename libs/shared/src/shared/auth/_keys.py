"""Where verification keys come from: a JWKS document fetched over HTTP, or keys given in-process.

Only asymmetric signing keys of the allowed types are ever loaded (Ed25519 ``OKP`` for EdDSA,
P-256 ``EC`` for ES256): a symmetric (``oct``) or RSA key in a JWKS is ignored, so no header can
make the verifier treat public key material as an HMAC secret.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

import httpx
import jwt
import structlog

from shared.errors import DependencyUnavailableError
from shared.resilience.timeouts import with_timeout

__all__ = [
    "ALLOWED_ALGORITHMS",
    "JwksFetcher",
    "JwksKeySource",
    "KeySource",
    "StaticKeySource",
    "http_jwks",
    "load_jwks",
]

# algorithm -> (kty, crv) of the only key type that may verify it.
ALLOWED_ALGORITHMS: Mapping[str, tuple[str, str]] = {
    "EdDSA": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
}

log = structlog.get_logger(__name__)


class KeySource(Protocol):
    """Looks up a public verification key by its ``kid``."""

    async def get(self, kid: str) -> jwt.PyJWK | None:
        """Return the key with id ``kid``, or None when there is no such key."""
        ...


def _algorithm_of(jwk: Mapping[str, Any]) -> str | None:
    for algorithm, (kty, crv) in ALLOWED_ALGORITHMS.items():
        if jwk.get("kty") == kty and jwk.get("crv") == crv:
            declared = jwk.get("alg")
            return algorithm if declared in (None, algorithm) else None
    return None


def load_jwks(document: Mapping[str, Any]) -> dict[str, jwt.PyJWK]:
    """Parse a JWKS document into ``kid -> key``, keeping only allowed signing keys."""
    keys: dict[str, jwt.PyJWK] = {}
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        return keys
    for raw in raw_keys:
        if not isinstance(raw, dict) or not isinstance(raw.get("kid"), str):
            continue
        if raw.get("use", "sig") != "sig" or "d" in raw:
            continue  # an encryption key, or a private key published by mistake
        algorithm = _algorithm_of(raw)
        if algorithm is None:
            continue
        try:
            keys[raw["kid"]] = jwt.PyJWK(raw, algorithm=algorithm)
        except jwt.PyJWTError:
            log.warning("jwks_key_skipped", kid=raw["kid"])
    return keys


class StaticKeySource:
    """Keys known in-process (tests, or the issuer verifying its own tokens)."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        """Load the allowed keys of ``jwks`` (a JWKS document)."""
        self._keys = load_jwks(jwks)

    async def get(self, kid: str) -> jwt.PyJWK | None:
        """Return the key with id ``kid``, if loaded."""
        return self._keys.get(kid)

    @property
    def kids(self) -> Iterable[str]:
        """The ids of the loaded keys."""
        return tuple(self._keys)


JwksFetcher = Callable[[], Awaitable[Mapping[str, Any]]]


def http_jwks(url: str, client: httpx.AsyncClient, *, timeout_s: float = 2.0) -> JwksFetcher:
    """Return a fetcher of the JWKS document at ``url``, bounded by ``timeout_s``."""

    async def fetch() -> Mapping[str, Any]:
        response = await with_timeout(client.get(url), timeout_s, operation="jwks.fetch")
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict):
            raise ValueError("a JWKS document must be a JSON object")
        return document

    return fetch


class JwksKeySource:
    """A JWKS document, cached; fetched again when stale or on an unknown ``kid``.

    Re-fetching on an unknown ``kid`` is how a verifier learns a freshly rotated key; it is
    rate-limited to one fetch per ``min_refetch_interval_s`` so a flood of tokens with made-up
    ``kid``s cannot turn into a flood of requests to the issuer. Concurrent misses share one
    fetch. When a refresh fails, the cached keys keep serving (stale-if-error); with no keys at
    all, :class:`~shared.errors.DependencyUnavailableError` is raised (a 503, not a 401).

    Args:
        fetch: loads the document, e.g. :func:`http_jwks` (identity reads its own database).
        ttl_s: how long a fetched document is fresh.
        min_refetch_interval_s: the least time between two fetches.
        monotonic: the clock (seconds), replaceable in tests.
    """

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        ttl_s: float = 300.0,
        min_refetch_interval_s: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._ttl_s = ttl_s
        self._min_interval_s = min_refetch_interval_s
        self._now = monotonic
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    async def get(self, kid: str) -> jwt.PyJWK | None:
        """Return the key ``kid``, refreshing the cache when stale or when ``kid`` is unknown."""
        if self._fetched_at is None or self._now() - self._fetched_at >= self._ttl_s:
            await self._refresh(force=True)
        key = self._keys.get(kid)
        if key is None:
            await self._refresh(force=False)
            key = self._keys.get(kid)
        return key

    async def _refresh(self, *, force: bool) -> None:
        async with self._lock:
            fetched_at = self._fetched_at
            if fetched_at is not None:
                age = self._now() - fetched_at
                # Another task refreshed while this one waited, or the rate limit holds.
                if age < self._min_interval_s or (force and age < self._ttl_s):
                    return
            try:
                self.fetch_count += 1
                keys = load_jwks(await self._fetch())
            except Exception as exc:
                self._fetched_at = self._now()  # failures are rate-limited too
                log.warning("jwks_fetch_failed", error=type(exc).__name__)
                if not self._keys:
                    raise DependencyUnavailableError(
                        "The token issuer's keys are unavailable."
                    ) from exc
                return
            self._keys = keys
            self._fetched_at = self._now()
