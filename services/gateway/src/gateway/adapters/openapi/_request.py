"""Request validation against one contract operation, as a FastAPI dependency.

:class:`RequestValidator` turns the raw request into a :class:`ValidRequest` or raises
:class:`shared.errors.ValidationError` (a 422 ``validation.failed`` problem listing every
offending field) before anything is forwarded. Raw strings become JSON values the OpenAPI way
(``form`` query parameters, exploded arrays, ``simple`` path and header parameters); a scalar
query parameter sent twice is refused rather than guessed at, so the gateway and the service
can never read different values from one request. The body must be JSON (``application/json``
or absent content type, as FastAPI reads it); it is forwarded re-serialized from what was
validated, so no parser difference between the gateway and the service can smuggle a value
past validation (duplicate keys, encodings, ``NaN``). Numbers are bounded where they are
parsed: an integer must fit in 64 signed bits (what the services store, and what the
contract's ``int64`` format asserts) and a number must be finite, in the body and in parameters.
Text the services could not store is refused wherever it is, before the schemas see it: a NUL
or an unpaired surrogate in any parameter or in any string of the body, keys included (JSON's
``"\\u0000"`` and ``"\\ud800"`` escapes decode to them, and ``%00`` in a query or path), each
reported at its field with type ``string_unstorable`` (:mod:`shared.text`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gateway.adapters.openapi._contract import Body, Operation, Parameter
from shared.errors import FieldError, ValidationError
from shared.text import json_may_hold_unstorable, unstorable_field_errors

__all__ = ["RequestValidator", "ValidRequest"]

_INT64 = range(-(2**63), 2**63)
_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", re.ASCII)
_BOOLEANS = {"true": True, "false": False}


class _OutOfRangeError(ValueError):
    """A JSON number the gateway does not accept: an integer beyond int64, or not finite."""


def _int64(text: str) -> int:
    value = int(text) if len(text) <= 20 else None  # a sign and 19 digits hold every int64
    if value is None or value not in _INT64:
        raise _OutOfRangeError(text)
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _OutOfRangeError(text)
    return value


_PARSERS: dict[str, tuple[re.Pattern[str], Callable[[str], Any], tuple[str, str]]] = {
    "integer": (_INTEGER, _int64, ("Input should be a valid 64-bit integer", "int_parsing")),
    "number": (_NUMBER, _finite, ("Input should be a valid finite number", "float_parsing")),
    "boolean": (
        re.compile("true|false"),
        _BOOLEANS.__getitem__,
        ("Input should be true or false", "bool_parsing"),
    ),
}
# No contract body nests deeper than a few levels; this bounds every recursive walk after it.
MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class ValidRequest:
    """A request that satisfies its operation.

    Attributes:
        path_params: the path parameters as sent (already validated).
        query: the declared query parameters as sent, in order (undeclared ones are dropped).
        headers: the declared header parameters as sent, by the contract's spelling.
        values: every declared parameter as a JSON value, defaults filled in.
        body: the parsed JSON body (None when there is none).
        has_body: whether a body was sent.
    """

    path_params: Mapping[str, str]
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    values: Mapping[str, Any]
    body: Any
    has_body: bool

    def body_bytes(self) -> bytes | None:
        """The body re-serialized as compact UTF-8 JSON, or None."""
        if not self.has_body:
            return None
        text = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode()


class RequestValidator:
    """A FastAPI dependency validating requests against ``operation``.

    ``parameters`` and ``body`` are what is enforced, and what the served OpenAPI document
    shows for the route (see :func:`gateway.adapters.openapi.served_document`).
    """

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.parameters: tuple[Parameter, ...] = operation.parameters
        self.body: Body | None = operation.body

    async def __call__(self, request: Request) -> ValidRequest:
        """Validate ``request``; raise ``ValidationError`` listing every problem found."""
        errors: list[FieldError] = []
        path_params: dict[str, str] = {}
        query: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        values: dict[str, Any] = {}
        for param in self.parameters:
            raw = _raw_values(request, param)
            loc = (param.location, param.name)
            if not raw:
                if param.required:
                    errors.append(FieldError.from_loc(loc, "Field required", "missing"))
                elif param.default is not None:
                    values[param.name] = param.default
                continue
            if param.kind != "array" and len(raw) > 1:
                errors.append(FieldError.from_loc(loc, "Send this parameter once", "repeated"))
                continue
            value, problems = _deserialize(param, raw, loc)
            problems = (
                problems
                or unstorable_field_errors(value, loc)
                or param.validator.errors(value, loc)
            )
            if problems:
                errors.extend(problems)
                continue
            values[param.name] = value
            if param.location == "path":
                path_params[param.name] = raw[0]
            elif param.location == "query":
                query.extend((param.name, item) for item in raw)
            else:
                headers[param.name] = raw[0]
        body, has_body = await self._body(request, errors)
        if errors:
            raise ValidationError(errors=errors)
        return ValidRequest(path_params, tuple(query), headers, values, body, has_body)

    async def _body(self, request: Request, errors: list[FieldError]) -> tuple[Any, bool]:
        if self.body is None:
            return None, False  # the operation takes none: whatever was sent is not forwarded
        raw = await request.body()
        if not raw:
            if self.body.required:
                errors.append(FieldError.from_loc(("body",), "Field required", "missing"))
            return None, False
        if _is_json(request.headers.get("content-type")):
            value, problem = _parse(raw)
        else:
            value, problem = None, ("The body must be application/json", "content_type")
        if problem is not None:
            errors.append(FieldError.from_loc(("body",), *problem))
            return None, False
        # Before the schema: the validator cannot even read a key holding a lone surrogate.
        unstorable = (
            unstorable_field_errors(value, ("body",)) if json_may_hold_unstorable(raw) else []
        )
        if unstorable:
            errors.extend(unstorable)
            return None, False
        errors.extend(self.body.validator.errors(value, ("body",)))
        return value, True


def _parse(raw: bytes) -> tuple[Any, tuple[str, str] | None]:
    """The body as JSON that re-serializes exactly, or why it is refused."""
    try:
        value = json.loads(raw, parse_constant=_no_constants, parse_int=_int64, parse_float=_finite)
    except _OutOfRangeError:
        return None, ("A number in the body is out of range", "number_range")
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError alike
        return None, ("The body is not valid JSON", "json_invalid")
    if _depth(value) > MAX_DEPTH:
        return None, ("The body is nested too deeply", "depth")
    # A lone surrogate ("\\ud800", or raw ED A0 80 bytes) parses; the caller refuses it by field.
    return value, None


def _raw_values(request: Request, param: Parameter) -> list[str]:
    if param.location == "path":
        value = request.path_params.get(param.name)
        return [] if value is None else [str(value)]
    if param.location == "query":
        return request.query_params.getlist(param.name)
    return request.headers.getlist(param.name)


def _deserialize(
    param: Parameter, raw: list[str], loc: tuple[str, str]
) -> tuple[Any, list[FieldError]]:
    if param.kind == "array":
        kind = param.item_kind or "string"
        items, problems = [], []
        for index, text in enumerate(raw):
            item, problem = _scalar(kind, text)
            items.append(item)
            if problem is not None:
                problems.append(FieldError.from_loc((*loc, index), *problem))
        return items, problems
    value, problem = _scalar(param.kind, raw[0])
    return value, [] if problem is None else [FieldError.from_loc(loc, *problem)]


def _scalar(kind: str, text: str) -> tuple[Any, tuple[str, str] | None]:
    parse = _PARSERS.get(kind)
    if parse is None:
        return text, None
    pattern, convert, problem = parse
    if pattern.fullmatch(text):
        try:
            return convert(text), None
        except _OutOfRangeError:
            pass
    return text, problem


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # as FastAPI: an untyped body is read as JSON
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((child, level + 1) for child in children)
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
