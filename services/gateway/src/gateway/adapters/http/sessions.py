"""Browser mode: the refresh token lives in an HttpOnly cookie, never in a response body.

``Auth-Mode: cookie`` on sign-up, login, refresh, logout and switch-org selects it. The
``ordo_refresh`` cookie is HttpOnly, Secure, SameSite=Strict and scoped to ``/v1/auth``; the
``ordo_csrf`` cookie (readable by the page, for the double submit) is Secure and
SameSite=Strict. Bearer mode (the default) returns the refresh token in the body and sets no
cookie. Cookie values are generated here or by identity: nothing the client sent is reflected.
"""

from __future__ import annotations

from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from shared.http.csrf import CSRF_COOKIE, new_csrf_token

__all__ = [
    "AUTH_PATH",
    "REFRESH_COOKIE",
    "AuthMode",
    "clear_session_cookies",
    "refresh_token_from",
    "set_session_cookies",
]

REFRESH_COOKIE = "ordo_refresh"
AUTH_PATH = "/v1/auth"
AuthMode = Literal["bearer", "cookie"]
_MAX_TOKEN = 256


def set_session_cookies(
    response: Response, body: dict[str, Any], *, max_age_s: int, secure: bool
) -> dict[str, Any]:
    """Move the refresh token from ``body`` into the cookie; return the body without it."""
    refresh = str(body.pop("refresh_token"))
    response.set_cookie(
        REFRESH_COOKIE,
        refresh,
        max_age=max_age_s,
        path=AUTH_PATH,
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE,
        new_csrf_token(),
        max_age=max_age_s,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )
    return body


def clear_session_cookies(response: Response, *, secure: bool) -> None:
    """Expire both cookies."""
    response.delete_cookie(
        REFRESH_COOKIE, path=AUTH_PATH, secure=secure, httponly=True, samesite="strict"
    )
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, samesite="strict")


def refresh_token_from(request: Request, body: dict[str, Any] | None) -> str | None:
    """The refresh token: from the body (bearer mode) or the cookie (browser mode)."""
    if body and isinstance(body.get("refresh_token"), str):
        return str(body["refresh_token"])
    cookie = request.cookies.get(REFRESH_COOKIE)
    return cookie if cookie and len(cookie) <= _MAX_TOKEN else None
