"""Where a service finds identity's keys and which access tokens it accepts.

Every service but identity verifies every token itself (``ORDO_AUTH__*``)::

    http = httpx.AsyncClient(timeout=settings.auth.jwks_timeout_s)   # closed in the lifespan
    verifier = jwks_verifier(settings.auth, http, keys=keys)          # keys: tests only
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, Field

from shared.auth._keys import JwksKeySource, KeySource, http_jwks
from shared.auth._verifier import MAX_LEEWAY_S, TokenVerifier

__all__ = ["AuthSettings", "jwks_verifier"]


class AuthSettings(BaseModel):
    """Where identity's JWKS is and which tokens to accept (a service's ``auth`` settings)."""

    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwks_timeout_s: float = Field(default=2.0, gt=0)
    issuer: str = "https://identity.ordo.local"
    audience: str = "ordo-api"
    leeway_s: float = Field(default=30.0, ge=0, le=MAX_LEEWAY_S)


def jwks_verifier(
    settings: AuthSettings, http: httpx.AsyncClient, *, keys: KeySource | None = None
) -> TokenVerifier:
    """A verifier of identity's access tokens per ``settings``.

    Keys come from ``keys`` when given (tests), else from identity's JWKS at
    ``settings.jwks_url``, fetched with ``http`` (the caller closes it) within
    ``settings.jwks_timeout_s``.
    """
    source = keys or JwksKeySource(
        http_jwks(settings.jwks_url, http, timeout_s=settings.jwks_timeout_s)
    )
    return TokenVerifier(
        source, issuer=settings.issuer, audience=settings.audience, leeway_s=settings.leeway_s
    )
