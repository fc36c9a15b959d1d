"""Every request's text, checked before any route reads it: no NUL, no unpaired surrogate.

:func:`refuse_unstorable_text` is an app-wide FastAPI dependency (``create_app`` installs it on
every route), so a service refuses such strings on its own internal API whatever its routes
declare: each service stands on its own, the gateway's validation in front of it or not. It
looks at the path parameters, the query string (names and values) and a JSON body (keys and
values), and answers a 422 ``validation.failed`` problem listing each offending field as
``path.<name>``, ``query.<name>`` or ``body.<a>.<b>.<index>``, with type ``string_unstorable``
(see :mod:`shared.text`). Header values cannot carry these characters: the HTTP server refuses
control characters in headers, and a header is decoded as Latin-1 (no surrogates).

Cost: a body is parsed only when its bytes could hold such a string (a ``\\u`` escape, a NUL
byte, or the ``ED`` lead byte of a UTF-8-encoded surrogate, which ``json.loads`` reads as one);
otherwise the check is a few byte searches, and FastAPI reads the same cached body bytes.
"""

from __future__ import annotations

import json

from starlette.requests import Request

from shared.errors import FieldError, ValidationError
from shared.text import MAX_REPORTED, Loc, json_may_hold_unstorable, unstorable_field_errors

__all__ = ["refuse_unstorable_text"]

_BODY: Loc = ("body",)


async def refuse_unstorable_text(request: Request) -> None:
    """Raise a 422 ``ValidationError`` naming every unstorable string of ``request``."""
    errors: list[FieldError] = []
    for name, value in request.path_params.items():
        errors.extend(unstorable_field_errors(value, ("path", name)))
    # Only a percent-encoded NUL decodes to one; invalid UTF-8 is decoded as U+FFFD.
    if b"%00" in request.scope.get("query_string", b""):
        for name, value in request.query_params.multi_items():
            errors.extend(unstorable_field_errors({name: value}, ("query",)))
    errors.extend(_body_errors(await request.body(), request.headers.get("content-type")))
    if errors:
        raise ValidationError(errors=errors[:MAX_REPORTED])


def _body_errors(raw: bytes, content_type: str | None) -> list[FieldError]:
    if not raw or not json_may_hold_unstorable(raw):
        return []
    if not _is_json(content_type):
        return []
    try:
        value = json.loads(raw)  # as FastAPI reads it, so the same strings are seen
    except (ValueError, RecursionError):
        return []  # not JSON: FastAPI refuses it with its own error
    return unstorable_field_errors(value, _BODY)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI reads an untyped body as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
