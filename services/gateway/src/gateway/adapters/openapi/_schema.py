"""JSON Schema (2020-12) validation by ``jsonschema-rs``, compiled once at start-up.

The gateway validates requests with the contract's own schemas, not with a translation of them,
so what is validated is what is served. Compilation fails closed (the gateway refuses to start)
on anything the library cannot enforce: a schema that breaks the meta-schema, a reference that
does not resolve locally (nothing is fetched), an unknown format, or a pattern that the linear-time
``regex`` engine cannot compile (no look-around or back-references: no catastrophic backtracking
on hostile input). Patterns follow ECMA-262 as the library implements it (``$`` is the end of
input, ``\\d`` and ``\\w`` are ASCII). Unknown keywords are ignored, as JSON Schema says; the
contract tests (tests/contracts/test_openapi.py) refuse any in the contracts, so a misspelt one
cannot silently go unenforced.

Formats are asserted. Beyond the library's own: ``email`` is deliberately loose (identity, which
owns users, checks addresses properly), and ``int64`` is known but checked by the request parser,
which refuses every integer outside the signed 64-bit range (the library applies formats to
strings only).

Messages are built from the error's kind and the schema, never from the library's message, which
quotes the input (it may be a password); paths are dotted (``body.lines.0.quantity``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import jsonschema_rs

from shared.errors import FieldError

__all__ = ["SchemaCompileError", "SchemaValidator", "compile_schema"]

Loc = tuple[str | int, ...]


class SchemaCompileError(ValueError):
    """The library cannot compile a schema of the contract (fail closed)."""


_FORMATS: dict[str, Callable[..., bool]] = {
    "email": lambda value: "@" in value,
    "int64": lambda value: True,  # a string is never an int64; integers: see the module doc
}


class SchemaValidator:
    """A compiled schema: ``errors(value, loc)`` lists what is wrong with ``value``."""

    def __init__(self, validator: jsonschema_rs.Validator, schema: Mapping[str, Any]) -> None:
        self._validator = validator
        self.schema = schema

    def errors(self, value: Any, loc: Loc = ()) -> list[FieldError]:
        """Every violation of the schema by ``value``, located under ``loc``."""
        if self._validator.is_valid(value):  # the usual case, several times faster
            return []
        return [
            problem
            for error in self._validator.iter_errors(value)
            for problem in _field_errors(error, loc)
        ]

    def is_valid(self, value: Any) -> bool:
        """True if ``value`` satisfies the schema."""
        return self._validator.is_valid(value)


def compile_schema(schema: Any, components: Mapping[str, Any]) -> SchemaValidator:
    """Compile ``schema``, resolving ``#/components/...`` references against ``components``."""
    # The components ride along in the root, where the local references point.
    root = {**schema, "components": components} if isinstance(schema, Mapping) else schema
    try:
        validator = jsonschema_rs.validator_for(
            root,
            formats=_FORMATS,
            validate_formats=True,
            ignore_unknown_formats=False,
            pattern_options=jsonschema_rs.RegexOptions(),
            offline=True,
        )
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
        raise SchemaCompileError(str(exc)) from exc
    return SchemaValidator(validator, schema if isinstance(schema, Mapping) else {})


def _field_errors(error: jsonschema_rs.ValidationError, loc: Loc) -> list[FieldError]:
    kind = error.kind
    name = type(kind).__name__
    here = (*loc, *error.instance_path)
    if name == "Required":
        return [_error((*here, kind.as_dict()["property"]), "Field required", "missing")]
    if name in ("AdditionalProperties", "UnevaluatedProperties"):
        return [
            _error((*here, extra), "Extra inputs are not permitted", "extra_forbidden")
            for extra in kind.as_dict()["unexpected"]
        ]
    if name in ("AnyOf", "OneOfNotValid"):
        return _union(error, loc)
    describe = _DESCRIBE.get(name)
    if describe is None:
        return [_error(here, f"Input does not satisfy {kind.name}", _snake(kind.name))]
    return [_error(here, *describe(kind.as_dict()))]


Describe = Callable[[Mapping[str, Any]], tuple[str, str]]


def _say(template: str, error_type: str) -> Describe:
    """A message from ``template`` over the kind's fields (the schema's, never the input)."""
    return lambda fields: (template.format(**fields), error_type)


def _type(fields: Mapping[str, Any]) -> tuple[str, str]:
    types = sorted(fields["types"], key=lambda t: t == "null")  # null last, else as given
    return f"Input should be of type {' or '.join(types)}", f"{types[0]}_type"


def _enum(fields: Mapping[str, Any]) -> tuple[str, str]:
    shown = ", ".join(json.dumps(option) for option in fields["options"])
    return f"Input should be one of {shown}", "enum"


def _const(fields: Mapping[str, Any]) -> tuple[str, str]:
    return f"Input should be {json.dumps(fields['expected_value'])}", "literal_error"


def _format(fields: Mapping[str, Any]) -> tuple[str, str]:
    return f"Input should be a valid {fields['format']}", f"{_snake(fields['format'])}_format"


def _not(fields: Mapping[str, Any]) -> tuple[str, str]:
    inner = fields["schema"]
    if isinstance(inner, Mapping) and set(inner) == {"const"}:
        return f"Input should not be {json.dumps(inner['const'])}", "not"
    return "Input matches a schema it must not match", "not"


# The error kind (the library's class name) -> its message and type.
_DESCRIBE: Mapping[str, Describe] = {
    "Type": _type,
    "Enum": _enum,
    "Constant": _const,
    "Format": _format,
    "Not": _not,
    "Minimum": _say("Input should be greater than or equal to {limit}", "greater_than_equal"),
    "Maximum": _say("Input should be less than or equal to {limit}", "less_than_equal"),
    "ExclusiveMinimum": _say("Input should be greater than {limit}", "greater_than"),
    "ExclusiveMaximum": _say("Input should be less than {limit}", "less_than"),
    "MultipleOf": _say("Input should be a multiple of {multiple_of}", "multiple_of"),
    "MinLength": _say("String should have at least {limit} characters", "string_too_short"),
    "MaxLength": _say("String should have at most {limit} characters", "string_too_long"),
    "Pattern": _say("String should match pattern '{pattern}'", "string_pattern_mismatch"),
    "MinItems": _say("List should have at least {limit} items", "too_short"),
    "MaxItems": _say("List should have at most {limit} items", "too_long"),
    "UniqueItems": _say("List items should be unique", "unique_items"),
    "MinProperties": _say("Object should have at least {limit} properties", "too_few_properties"),
    "MaxProperties": _say("Object should have at most {limit} properties", "too_many_properties"),
    "OneOfMultipleValid": _say("Input matches more than one allowed schema", "one_of"),
    "FalseSchema": _say("No value is allowed here", "forbidden"),
}


def _union(error: jsonschema_rs.ValidationError, loc: Loc) -> list[FieldError]:
    # Name the branch the value was probably meant for: the one not failing on its type.
    branches: list[list[jsonschema_rs.ValidationError]] = error.kind.as_dict()["context"]
    typed = [
        branch
        for branch in branches
        if not any(
            type(e.kind).__name__ == "Type" and e.instance_path == error.instance_path
            for e in branch
        )
    ]
    if len(typed) == 1:
        return [problem for e in typed[0] for problem in _field_errors(e, loc)]
    here = (*loc, *error.instance_path)
    return [_error(here, "Input matches none of the allowed schemas", "union")]


def _error(loc: Loc, message: str, kind: str) -> FieldError:
    return FieldError.from_loc(loc, message, kind)


def _snake(name: str) -> str:
    return (
        "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_").replace("-", "_")
    )
