"""CSRF protection for cookie-authenticated requests: an Origin check plus a double-submit token.

Only requests a browser could send with our cookies attached need it: bearer-token requests are
immune (a cross-site page cannot read or attach the token). A state-changing request (any method
but GET, HEAD, OPTIONS) that carries one of the session cookies must:

1. come from an allowed origin: ``Origin`` (or, if absent, the origin of ``Referer``) is in the
   allowlist; a missing or foreign origin is rejected;
2. echo the CSRF cookie in the CSRF header (double submit); a cross-site page can neither read
   the cookie nor set the header.

The CSRF cookie is not HttpOnly (the page's script reads it) and is SameSite=Strict and Secure,
like the session cookie. Rejections are 403 problems with code ``csrf.rejected``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.requests import Request

from shared.errors import PermissionDeniedError

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SAFE_METHODS",
    "CsrfProtection",
    "CsrfRejectedError",
    "new_csrf_token",
]

CSRF_COOKIE = "ordo_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRejectedError(PermissionDeniedError):
    """A cookie-authenticated, state-changing request failed the CSRF checks."""

    code = "csrf.rejected"
    default_message = "The request failed cross-site request forgery checks."


def new_csrf_token() -> str:
    """Return a fresh, unguessable CSRF token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class CsrfProtection:
    """A FastAPI dependency enforcing the checks above on cookie-authenticated requests.

    Args:
        allowed_origins: exact origins (``https://app.example.com``) allowed to send requests.
        session_cookies: cookie names whose presence makes a request cookie-authenticated.
        cookie_name: the double-submit cookie.
        header_name: the header that must echo it.
    """

    def __init__(
        self,
        *,
        allowed_origins: Collection[str],
        session_cookies: Collection[str],
        cookie_name: str = CSRF_COOKIE,
        header_name: str = CSRF_HEADER,
    ) -> None:
        self._origins = frozenset(origin.rstrip("/").lower() for origin in allowed_origins)
        self._session_cookies = tuple(session_cookies)
        self.cookie_name = cookie_name
        self.header_name = header_name

    def uses_cookies(self, request: Request) -> bool:
        """True if ``request`` carries one of the session cookies."""
        return any(name in request.cookies for name in self._session_cookies)

    def check_origin(self, request: Request) -> None:
        """Reject a request whose Origin (or Referer origin) is missing or not allowed."""
        origin = request.headers.get("origin")
        if origin is None or origin == "null":
            referer = request.headers.get("referer")
            origin = _origin_of(referer) if referer else None
        if origin is None or origin.rstrip("/").lower() not in self._origins:
            raise CsrfRejectedError(details={"reason": "origin"})

    def check_token(self, request: Request) -> None:
        """Reject a request whose CSRF header does not equal its CSRF cookie."""
        cookie = request.cookies.get(self.cookie_name, "")
        header = request.headers.get(self.header_name, "")
        if not cookie or not header or not hmac.compare_digest(cookie, header):
            raise CsrfRejectedError(details={"reason": "token"})

    async def __call__(self, request: Request) -> None:
        """Run both checks on unsafe, cookie-authenticated requests; let the rest through."""
        if request.method in SAFE_METHODS or not self.uses_cookies(request):
            return
        self.check_origin(request)
        self.check_token(request)
