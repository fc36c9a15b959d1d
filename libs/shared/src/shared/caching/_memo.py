"""The per-request layer: a memo that lives exactly as long as one request (or use case call).

Within the scope, a cache answers a key it already answered with the very same value, without
touching the other layers; outside any scope the memo is simply skipped. The scope is a
``contextvars`` variable, so concurrent requests never see each other's memo, and tasks a
request spawns see the request's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["RequestMemoMiddleware", "current_memo", "memo_scope"]

_memo: ContextVar[dict[str, object] | None] = ContextVar("ordo_cache_memo", default=None)


@contextmanager
def memo_scope() -> Iterator[dict[str, object]]:
    """Open a fresh memo for the enclosed block (nested scopes start empty, then restore)."""
    memo: dict[str, object] = {}
    token = _memo.set(memo)
    try:
        yield memo
    finally:
        _memo.reset(token)


def current_memo() -> dict[str, object] | None:
    """The memo of the current scope, or None outside any."""
    return _memo.get()


class RequestMemoMiddleware:
    """Pure ASGI middleware giving every HTTP request its own memo scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request inside a memo scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with memo_scope():
            await self.app(scope, receive, send)
