"""Pure ASGI middlewares (no ``BaseHTTPMiddleware``: it breaks contextvars and streaming).

- :class:`RequestIdMiddleware`: one id per request, accepted from ``X-Request-ID`` only when it
  is short and plain, echoed back, bound to every log line of the request.
- :class:`SecurityHeadersMiddleware`: strict headers on every response, errors included.
- :class:`BodyLimitMiddleware`: a 413 problem for request bodies over a size limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from opentelemetry import trace
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from shared.http._context import REQUEST_ID_HEADER, get_request_id, set_request_id
from shared.http.problems import REQUEST_TOO_LARGE_CODE, problem_response
from shared.ids import new_id

__all__ = [
    "REQUEST_ID_HEADER",
    "SECURITY_HEADERS",
    "BodyLimitMiddleware",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "get_request_id",
]

# Anything else (spaces, quotes, CR/LF, long blobs) could forge log lines or headers downstream.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

SECURITY_HEADERS: Mapping[str, str] = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # A JSON API loads nothing and is framed by nobody.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(), payment=(), usb=()",
    # API answers are per caller and often personal: no shared or browser cache unless a
    # handler opts in by setting its own Cache-Control.
    "Cache-Control": "no-store",
}


class RequestIdMiddleware:
    """Give each request an id: a safe incoming ``X-Request-ID``, else a new UUID v7.

    The id is stored in ``request.state.request_id``, bound to structlog's contextvars as
    ``request_id`` for the request's duration, set on the current span and echoed in the
    response's ``X-Request-ID``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Assign the id, then run the app with it bound."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        if incoming is not None and _SAFE_REQUEST_ID.fullmatch(incoming):
            request_id = incoming
        else:
            request_id = str(new_id())
        set_request_id(scope, request_id)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("ordo.request_id", request_id)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=_with_header_list(message))[REQUEST_ID_HEADER] = request_id
            await send(message)

        with bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_wrapper)


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` to every HTTP response, unless the handler set that header.

    Args:
        headers: replaces the defaults (e.g. a relaxed CSP for an HTML page); None keeps them.
    """

    def __init__(self, app: ASGIApp, *, headers: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.headers = dict(SECURITY_HEADERS if headers is None else headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, adding the missing headers as the response starts."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=_with_header_list(message))
                for name, value in self.headers.items():
                    response_headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_wrapper)


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_body_size`` bytes with a 413 problem.

    A declared ``Content-Length`` over the limit is refused before the app runs; a body that
    grows past it while streaming fails the handler's read with ``HTTPException(413)``, which
    the problem handlers render. (Starlette's own limit answers in plain text from outside the
    middlewares, so its 413 would miss the problem format and the security headers.)
    """

    def __init__(self, app: ASGIApp, *, max_body_size: int) -> None:
        if max_body_size < 0:
            raise ValueError("max_body_size must not be negative")
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count the bytes actually received."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_size:
            response = problem_response(
                Request(scope), status=413, code=REQUEST_TOO_LARGE_CODE, detail=self._detail()
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_size:
                    raise HTTPException(status_code=413, detail=self._detail())
            return message

        await self.app(scope, limited_receive, send)

    def _detail(self) -> str:
        return f"The request body exceeds {self.max_body_size} bytes."


def _with_header_list(message: Message) -> Message:
    # MutableHeaders edits the list in place; ASGI allows any iterable, so make it a list.
    message["headers"] = list(message.get("headers", []))
    return message
