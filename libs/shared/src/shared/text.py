"""Text the database can store: no NUL and no unpaired surrogate, checked at every edge.

PostgreSQL refuses two things Python strings can hold: the NUL character (U+0000; ``text`` and
``jsonb`` both reject it) and unpaired UTF-16 surrogates (U+D800-U+DFFF; they have no UTF-8
encoding, so the driver cannot even send them). Both reach Python from the outside easily:
JSON's ``"\\u0000"`` and ``"\\ud800"`` escapes decode to them (``json.loads`` accepts a lone
surrogate escape, and reads raw ``ED A0 80`` bytes as one), and a percent-encoded ``%00`` in a
query or path decodes to NUL. (A percent-encoded surrogate cannot arrive: URL decoding replaces
invalid UTF-8 with U+FFFD, which is storable.) A well-formed surrogate *pair* escape decodes to
one astral character, so any surrogate left in a ``str`` is unpaired.

Such input is bad input: it is refused where it enters (HTTP requests in
:mod:`shared.http.text_guard` and the gateway's contract validator; consumed events at decode
time, as a permanent failure), naming where it was, and never reaches a transaction, where it
would become a 500 or a retried "infrastructure" error.

This module is pure (no framework): it finds the offending strings in any decoded JSON value,
keys included, and reports their locations as pydantic-style tuples.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from shared.errors import FieldError, ValidationError

__all__ = [
    "MAX_REPORTED",
    "UNSTORABLE_TEXT_MESSAGE",
    "UNSTORABLE_TEXT_TYPE",
    "Loc",
    "UnstorableTextError",
    "is_storable",
    "json_may_hold_unstorable",
    "printable",
    "require_storable",
    "unstorable_field_errors",
    "unstorable_locations",
]

Loc = tuple[str | int, ...]

UNSTORABLE_TEXT_TYPE = "string_unstorable"
"""The ``type`` of a field error for such a string (as pydantic names its string errors)."""
UNSTORABLE_TEXT_MESSAGE = (
    "Text must not contain NUL (U+0000) or an unpaired surrogate (U+D800 to U+DFFF)"
)
MAX_REPORTED = 50
"""At most this many locations are reported: enough to fix a request, bounded for a hostile one."""

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The only bytes through which ``json.loads`` can produce NUL or a surrogate: an escape, a NUL
# byte (present in every UTF-16/32 document too, which json.loads detects and decodes), and the
# ED lead byte of a UTF-8-encoded surrogate (json.loads decodes bytes with "surrogatepass").
_SUSPECT_JSON_BYTES = (b"\\u", b"\x00", b"\xed")


class UnstorableTextError(ValidationError):
    """A string holds a NUL or an unpaired surrogate (permanent: refused, or dead-lettered)."""

    default_message = "The input holds text that cannot be stored."


def is_storable(text: str) -> bool:
    """True if ``text`` holds no NUL and no unpaired surrogate."""
    return _UNSTORABLE.search(text) is None


def json_may_hold_unstorable(raw: bytes) -> bool:
    """False when ``json.loads(raw)`` certainly yields only storable strings: a cheap pre-check.

    A few byte searches, so the walk of :func:`unstorable_locations` is only paid by documents
    that hold an escape, a NUL byte or an ``ED`` byte (some CJK text does; it is then walked).
    """
    return any(suspect in raw for suspect in _SUSPECT_JSON_BYTES)


def printable(part: str | int) -> str | int:
    """``part`` with any NUL or surrogate replaced by U+FFFD: safe to echo in a response or log.

    A location can name a key that is itself unstorable; echoed as is, a lone surrogate would
    make the error response itself unencodable.
    """
    if isinstance(part, str):
        return _UNSTORABLE.sub("\ufffd", part)
    return part


def unstorable_locations(value: Any, loc: Loc = (), *, limit: int = MAX_REPORTED) -> list[Loc]:
    """The locations of the strings in ``value`` (a decoded JSON value) that cannot be stored.

    Walks dicts (their keys too: a key is stored wherever a document is), lists and tuples, in
    document order, without recursion (no depth limit is hit however deep ``value`` is). A bad
    key is reported at its own location, with the key made :func:`printable`. Stops after
    ``limit`` locations.
    """
    found: list[Loc] = []
    for where in _walk(value, loc):
        found.append(where)
        if len(found) >= limit:
            break
    return found


def unstorable_field_errors(value: Any, loc: Loc = ()) -> list[FieldError]:
    """:func:`unstorable_locations` as field errors: ``body.lines.0.sku``, ``string_unstorable``."""
    return [
        FieldError.from_loc(where, UNSTORABLE_TEXT_MESSAGE, UNSTORABLE_TEXT_TYPE)
        for where in unstorable_locations(value, loc)
    ]


def require_storable(value: Any, loc: Loc = ()) -> None:
    """Raise :class:`UnstorableTextError` listing every unstorable string in ``value``.

    For a consumer's decoder: call it on the decoded payload (``loc=("payload",)``) and let the
    error dead-letter the record, before any transaction is opened.
    """
    errors = unstorable_field_errors(value, loc)
    if errors:
        paths = ", ".join(error.path for error in errors[:5])
        raise UnstorableTextError(
            f"Text that cannot be stored (NUL or unpaired surrogate) at {paths}.", errors=errors
        )


def _walk(value: Any, loc: Loc) -> Iterator[Loc]:
    # (node, its location, whether the node is a refused key rather than a value)
    stack: list[tuple[Any, Loc, bool]] = [(value, loc, False)]
    while stack:
        node, here, refused_key = stack.pop()
        if refused_key:
            yield here
        elif isinstance(node, str):
            if _UNSTORABLE.search(node) is not None:
                yield here
        elif isinstance(node, Mapping):
            children = [_entry(key, child, here) for key, child in node.items()]
            stack.extend(reversed(children))
        elif isinstance(node, Sequence) and not isinstance(node, bytes | bytearray):
            stack.extend((node[i], (*here, i), False) for i in reversed(range(len(node))))


def _entry(key: Any, child: Any, here: Loc) -> tuple[Any, Loc, bool]:
    if isinstance(key, str):
        # The value under a refused key is not looked at: the key alone is reported.
        return child, (*here, printable(key)), _UNSTORABLE.search(key) is not None
    return child, (*here, key if isinstance(key, int) else str(key)), False
