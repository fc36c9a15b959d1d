"""JSON Schema (2020-12) validation of the keywords the contracts use, compiled once at start-up.

The gateway validates requests with the contract's own schemas, not with a translation of them,
so what is validated is what is served. Only the keywords below are understood; a schema using
any other keyword fails to compile (the gateway refuses to start) rather than being half-checked.

- annotations (ignored): title, description, examples, default, deprecated, readOnly,
  writeOnly, $comment, ``x-*``
- any: type (one or a list), enum, const, $ref (local), allOf, anyOf, oneOf, not
- numbers: minimum, maximum, exclusiveMinimum, exclusiveMaximum
- strings: minLength, maxLength, pattern (ECMA-262 subset: ``$`` means end of input and
  ``\\d``/``\\w`` are ASCII), format (asserted: uuid, date-time, uri, email, int64, int32)
- arrays: items, minItems, maxItems, uniqueItems
- objects: properties, required, additionalProperties (boolean or schema)

Messages never contain the input (it may be a password); paths are dotted
(``body.lines.0.quantity``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from gateway.adapters.openapi._values import (
    FORMAT_TYPES,
    FORMATS,
    SchemaCompileError,
    canonical,
    ecma_pattern,
    has_type,
)
from shared.errors import FieldError

__all__ = ["SchemaCompileError", "SchemaValidator", "compile_schema"]

Loc = tuple[str | int, ...]
Check = Callable[[Any, Loc], Iterator[FieldError]]

_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly"}
    | {"$comment"}
)
_TYPES = frozenset({"null", "boolean", "integer", "number", "string", "array", "object"})


class SchemaValidator:
    """A compiled schema: ``errors(value, loc)`` lists what is wrong with ``value``."""

    def __init__(self, check: Check, schema: Mapping[str, Any]) -> None:
        self._check = check
        self.schema = schema

    def errors(self, value: Any, loc: Loc = ()) -> list[FieldError]:
        """Every violation of the schema by ``value``, located under ``loc``."""
        return list(self._check(value, loc))

    def is_valid(self, value: Any) -> bool:
        """True if ``value`` satisfies the schema."""
        return next(iter(self._check(value, ())), None) is None


def compile_schema(schema: Any, components: Mapping[str, Any]) -> SchemaValidator:
    """Compile ``schema``, resolving ``#/components/...`` references against ``components``."""
    return SchemaValidator(_Compiler(components).compile(schema, "#"), schema)


def _error(loc: Loc, message: str, kind: str) -> FieldError:
    return FieldError.from_loc(loc, message, kind)


class _Compiler:
    def __init__(self, components: Mapping[str, Any]) -> None:
        self._components = components
        self._refs: dict[str, Check] = {}

    def compile(self, schema: Any, where: str) -> Check:
        if schema is True:
            return _nothing
        if schema is False:
            return _refuse
        if not isinstance(schema, Mapping):
            raise SchemaCompileError(f"{where}: a schema must be an object or a boolean")
        checks: list[Check] = []
        handled: set[str] = set(_ANNOTATIONS)
        for build in (
            self._ref,
            self._type,
            self._values,
            self._combinators,
            self._numbers,
            self._strings,
            self._format,
            self._arrays,
            self._objects,
        ):
            handled |= build(schema, where, checks)
        unknown = {k for k in schema if k not in handled and not k.startswith("x-")}
        if unknown:
            raise SchemaCompileError(f"{where}: unsupported keywords {sorted(unknown)}")
        return _all_of(checks)

    def _ref(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        ref = schema.get("$ref")
        if ref is None:
            return set()
        if not isinstance(ref, str) or not ref.startswith("#/components/"):
            raise SchemaCompileError(f"{where}: only local #/components references are supported")
        if ref not in self._refs:
            self._refs[ref] = _refuse  # placeholder while compiling: cycles resolve lazily
            target: Any = {"components": self._components}
            for part in ref.removeprefix("#/").split("/"):
                if not isinstance(target, Mapping) or part not in target:
                    raise SchemaCompileError(f"{where}: unresolvable reference {ref}")
                target = target[part]
            self._refs[ref] = self.compile(target, ref)
        refs = self._refs

        def follow(value: Any, loc: Loc) -> Iterator[FieldError]:
            return refs[ref](value, loc)  # looked up late: a schema may refer to itself

        checks.append(follow)
        return {"$ref"}

    def _type(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        if "type" not in schema:
            return set()
        raw = schema["type"]
        allowed = [raw] if isinstance(raw, str) else list(raw)
        if not allowed or any(t not in _TYPES for t in allowed):
            raise SchemaCompileError(f"{where}: bad type {raw!r}")
        names = " or ".join(allowed)

        def check(value: Any, loc: Loc) -> Iterator[FieldError]:
            if not any(has_type(value, t) for t in allowed):
                yield _error(loc, f"Input should be of type {names}", f"{allowed[0]}_type")

        checks.append(check)
        return {"type"}

    def _values(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        if "enum" in schema:
            options = {canonical(v) for v in schema["enum"]}
            shown = ", ".join(json.dumps(v) for v in schema["enum"])

            def check_enum(value: Any, loc: Loc) -> Iterator[FieldError]:
                if canonical(value) not in options:
                    yield _error(loc, f"Input should be one of {shown}", "enum")

            checks.append(check_enum)
        if "const" in schema:
            expected = canonical(schema["const"])
            shown_const = json.dumps(schema["const"])

            def check_const(value: Any, loc: Loc) -> Iterator[FieldError]:
                if canonical(value) != expected:
                    yield _error(loc, f"Input should be {shown_const}", "literal_error")

            checks.append(check_const)
        return {"enum", "const"}

    def _combinators(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        for key in ("allOf", "anyOf", "oneOf"):
            if key in schema:
                subs = [self.compile(s, f"{where}/{key}/{i}") for i, s in enumerate(schema[key])]
                if not subs:
                    raise SchemaCompileError(f"{where}: empty {key}")
                checks.append(_all_of(subs) if key == "allOf" else _union(subs, one=key == "oneOf"))
        if "not" in schema:
            negated = self.compile(schema["not"], f"{where}/not")
            inner = schema["not"]
            message = (
                f"Input should not be {json.dumps(inner['const'])}"
                if isinstance(inner, Mapping) and set(inner) == {"const"}
                else "Input matches a schema it must not match"
            )

            def check_not(value: Any, loc: Loc) -> Iterator[FieldError]:
                if next(negated(value, loc), None) is None:
                    yield _error(loc, message, "not")

            checks.append(check_not)
        return {"allOf", "anyOf", "oneOf", "not"}

    def _numbers(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        bounds: list[tuple[Callable[[float, float], bool], float, str, str]] = []
        for key, test, text, kind in (
            ("minimum", lambda v, b: v >= b, "greater than or equal to", "greater_than_equal"),
            ("maximum", lambda v, b: v <= b, "less than or equal to", "less_than_equal"),
            ("exclusiveMinimum", lambda v, b: v > b, "greater than", "greater_than"),
            ("exclusiveMaximum", lambda v, b: v < b, "less than", "less_than"),
        ):
            if key in schema:
                bounds.append((test, schema[key], f"Input should be {text} {schema[key]}", kind))

        def check(value: Any, loc: Loc) -> Iterator[FieldError]:
            if has_type(value, "number"):
                for test, bound, message, kind in bounds:
                    if not test(value, bound):
                        yield _error(loc, message, kind)

        if bounds:
            checks.append(check)
        return {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}

    def _strings(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        low, high = schema.get("minLength"), schema.get("maxLength")
        pattern = ecma_pattern(schema["pattern"]) if "pattern" in schema else None

        def check(value: Any, loc: Loc) -> Iterator[FieldError]:
            if not isinstance(value, str):
                return
            if low is not None and len(value) < low:
                yield _error(
                    loc, f"String should have at least {low} characters", "string_too_short"
                )
            if high is not None and len(value) > high:
                yield _error(
                    loc, f"String should have at most {high} characters", "string_too_long"
                )
            if pattern is not None and not pattern.search(value):
                shown = schema["pattern"]
                yield _error(
                    loc, f"String should match pattern '{shown}'", "string_pattern_mismatch"
                )

        if low is not None or high is not None or pattern is not None:
            checks.append(check)
        return {"minLength", "maxLength", "pattern"}

    def _format(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        name = schema.get("format")
        if name is None:
            return set()
        if name not in FORMATS:
            raise SchemaCompileError(f"{where}: format {name!r} is not implemented")
        applies_to, test = FORMATS[name]
        python_type = FORMAT_TYPES[applies_to]
        kind = name.replace("-", "_") + "_format"

        def check(value: Any, loc: Loc) -> Iterator[FieldError]:
            applies = isinstance(value, python_type) and has_type(value, applies_to)
            if applies and not test(value):
                yield _error(loc, f"Input should be a valid {name}", kind)

        checks.append(check)
        return {"format"}

    def _arrays(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        items = self.compile(schema["items"], f"{where}/items") if "items" in schema else None
        low, high = schema.get("minItems"), schema.get("maxItems")
        unique = bool(schema.get("uniqueItems", False))

        def check(value: Any, loc: Loc) -> Iterator[FieldError]:
            if not isinstance(value, list):
                return
            if low is not None and len(value) < low:
                yield _error(loc, f"List should have at least {low} items", "too_short")
            if high is not None and len(value) > high:
                yield _error(loc, f"List should have at most {high} items", "too_long")
            if unique and len({canonical(v) for v in value}) != len(value):
                yield _error(loc, "List items should be unique", "unique_items")
            if items is not None:
                for index, item in enumerate(value):
                    yield from items(item, (*loc, index))

        checks.append(check)
        return {"items", "minItems", "maxItems", "uniqueItems"}

    def _objects(self, schema: Mapping[str, Any], where: str, checks: list[Check]) -> set[str]:
        properties = {
            name: self.compile(sub, f"{where}/properties/{name}")
            for name, sub in schema.get("properties", {}).items()
        }
        required = tuple(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        extra_check = (
            None if isinstance(extra, bool) else self.compile(extra, where + "/additional")
        )

        def check(value: Any, loc: Loc) -> Iterator[FieldError]:
            if not isinstance(value, dict):
                return
            for name in required:
                if name not in value:
                    yield _error((*loc, name), "Field required", "missing")
            for name, item in value.items():
                if name in properties:
                    yield from properties[name](item, (*loc, name))
                elif extra is False:
                    yield _error((*loc, name), "Extra inputs are not permitted", "extra_forbidden")
                elif extra_check is not None:
                    yield from extra_check(item, (*loc, name))

        checks.append(check)
        return {"properties", "required", "additionalProperties"}


def _nothing(value: Any, loc: Loc) -> Iterator[FieldError]:
    return iter(())


def _refuse(value: Any, loc: Loc) -> Iterator[FieldError]:
    yield _error(loc, "No value is allowed here", "forbidden")


def _all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]

    def check(value: Any, loc: Loc) -> Iterator[FieldError]:
        for each in checks:
            yield from each(value, loc)

    return check


def _union(branches: list[Check], *, one: bool) -> Check:
    def check(value: Any, loc: Loc) -> Iterator[FieldError]:
        failures = [list(branch(value, loc)) for branch in branches]
        matched = sum(1 for errors in failures if not errors)
        if matched == 1 or (matched > 1 and not one):
            return
        if matched > 1:
            yield _error(loc, "Input matches more than one allowed schema", "one_of")
            return
        # Name the branch the value was probably meant for: the one not failing on its type.
        typed = [
            e
            for e in failures
            if not any(f.type.endswith("_type") and f.path == _path(loc) for f in e)
        ]
        if len(typed) == 1:
            yield from typed[0]
        else:
            yield _error(loc, "Input matches none of the allowed schemas", "union")

    return check


def _path(loc: Loc) -> str:
    return ".".join(str(part) for part in loc)
