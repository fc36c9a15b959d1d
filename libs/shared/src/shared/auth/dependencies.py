"""FastAPI glue: a dependency that turns ``Authorization: Bearer <token>`` into a Principal.

Build one :class:`BearerAuth` in the composition root and declare it on routes
(``principal: Principal = Depends(auth)``); nothing here runs at import time. The principal's
ids are bound to the log context, so every log line of the request carries them.
"""

from __future__ import annotations

import structlog
from starlette.requests import Request

from shared.auth._verifier import TokenVerifier
from shared.auth.principal import Principal
from shared.errors import UnauthenticatedError

__all__ = ["BearerAuth", "bearer_token"]


def bearer_token(request: Request) -> str | None:
    """Return the bearer token of ``request``, or None when there is none."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class BearerAuth:
    """A FastAPI dependency that requires a valid bearer access token.

    Args:
        verifier: verifies tokens against the issuer's keys.
    """

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def __call__(self, request: Request) -> Principal:
        """Return the caller's principal or raise ``UnauthenticatedError`` (401)."""
        # No caching on request.state: some ASGI hosts share one state dict across requests.
        # FastAPI already resolves a dependency once per request.
        token = bearer_token(request)
        if token is None:
            raise UnauthenticatedError("A bearer access token is required.")
        principal = await self._verifier.verify(token)
        structlog.contextvars.bind_contextvars(
            user_id=str(principal.user_id), org_id=str(principal.org_id)
        )
        return principal

    async def optional(self, request: Request) -> Principal | None:
        """Like calling the dependency, but None when no token is sent (a bad one still fails)."""
        if bearer_token(request) is None:
            return None
        return await self(request)
