"""The value-level rules of the schema validator: JSON types and equality, ECMA-262 patterns,
and the formats the gateway asserts."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = [
    "FORMATS",
    "FORMAT_TYPES",
    "SchemaCompileError",
    "canonical",
    "ecma_pattern",
    "has_type",
    "json_type",
]


class SchemaCompileError(ValueError):
    """The contract uses something this validator does not implement (fail closed)."""


_INT_RANGES = {"int64": (-(2**63), 2**63 - 1), "int32": (-(2**31), 2**31 - 1)}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# RFC 3986: a scheme, then only URI characters, and "%" only as a percent-encoding.
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*"
)


_PYTHON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: a bool is an int in Python, never in JSON
    (int, "integer"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    """The JSON type of a parsed value (an integral float is an integer, as JSON Schema says)."""
    if value is None:
        return "null"
    if isinstance(value, float):
        return "integer" if math.isfinite(value) and value.is_integer() else "number"
    return next((name for kind, name in _PYTHON_TYPES if isinstance(value, kind)), "unknown")


def has_type(value: Any, expected: str) -> bool:
    """True if ``value`` is of JSON type ``expected`` (every integer is a number)."""
    actual = json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def canonical(value: Any) -> str:
    """A key equal for JSON-equal values (1 == 1.0, but True != 1)."""

    def normalise(v: Any) -> Any:
        if isinstance(v, bool) or v is None:
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, list):
            return [normalise(x) for x in v]
        if isinstance(v, dict):
            return {k: normalise(x) for k, x in v.items()}
        return v

    return json.dumps(normalise(value), sort_keys=True)


def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an ECMA-262 pattern: a bare ``$`` is the end of input (Python's ``\\Z``)."""
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
            out.append(char)
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(char)
    try:
        return re.compile("".join(out), re.ASCII)
    except re.error as exc:
        raise SchemaCompileError(f"pattern {pattern!r} does not compile") from exc


def _valid_date_time(value: str) -> bool:
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.upper())
    except ValueError:
        return False
    return True


FORMATS: Mapping[str, tuple[str, Callable[[Any], bool]]] = {
    "uuid": ("string", lambda v: bool(_UUID.fullmatch(v))),
    "date-time": ("string", _valid_date_time),
    "uri": ("string", lambda v: bool(_URI.fullmatch(v))),
    # Deliberately loose: identity, which owns users, checks addresses properly.
    "email": ("string", lambda v: "@" in v),
    "int64": ("integer", lambda v: _INT_RANGES["int64"][0] <= v <= _INT_RANGES["int64"][1]),
    "int32": ("integer", lambda v: _INT_RANGES["int32"][0] <= v <= _INT_RANGES["int32"][1]),
}
FORMAT_TYPES: Mapping[str, type | tuple[type, ...]] = {"string": str, "integer": (int, float)}
