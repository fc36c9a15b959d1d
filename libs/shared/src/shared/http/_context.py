"""Where the request id lives during a request: the ASGI scope's ``state`` (``request.state``)."""

from __future__ import annotations

from starlette.types import Scope

REQUEST_ID_HEADER = "X-Request-ID"
_STATE_KEY = "request_id"


def set_request_id(scope: Scope, request_id: str) -> None:
    """Store ``request_id`` where handlers read it as ``request.state.request_id``."""
    scope.setdefault("state", {})[_STATE_KEY] = request_id


def get_request_id(scope: Scope) -> str | None:
    """Return the request id set by ``RequestIdMiddleware``, or None outside of it."""
    value = scope.get("state", {}).get(_STATE_KEY)
    return value if isinstance(value, str) else None
