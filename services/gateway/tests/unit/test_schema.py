"""The gateway's schema validator gives the same verdict as the reference implementation.

For every request body and every parameter of the contract, a valid instance is built from the
schema and mutated at every position (wrong types, boundaries, bad formats, missing and extra
keys, duplicates); each candidate must be accepted by the gateway (jsonschema-rs) exactly when
`jsonschema` (Draft 2020-12, formats asserted) accepts it. Then the gateway-specific points:
ECMA ``$``, fail-closed compilation, messages that never echo the input.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from gateway.adapters.openapi import Contract, SchemaCompileError, compile_schema, find_contract

CONTRACT = find_contract(Path(__file__).resolve().parent)


@cache
def contract() -> Contract:
    return Contract.load(CONTRACT)


def _oracle_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    scheme = urlsplit(value).scheme if ":" in value else ""
    plain = all(0x21 <= ord(c) <= 0x7E and c not in '<>"{}|\\^`' for c in value)
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme)) and plain


def _oracle_int64(value: object) -> bool:
    return not isinstance(value, int | float) or -(2**63) <= value < 2**63


FORMATS = jsonschema.FormatChecker()
FORMATS.checks("uri")(_oracle_uri)
FORMATS.checks("int64")(_oracle_int64)


def oracle(schema: Any) -> jsonschema.Draft202012Validator:
    root = {"allOf": [schema], "components": contract().components}
    return jsonschema.Draft202012Validator(root, format_checker=FORMATS)


# Strings that satisfy each pattern of the contract, to build valid instances.
PATTERN_EXAMPLES = {
    "^[A-Za-z0-9][A-Za-z0-9._-]*$": "SKU-1.a_b",
    "^[A-Z]{3}$": "EUR",
    r"^[\x21-\x7E]+$": "key-1",
    "^whsec_[A-Za-z0-9+/]{32,}={0,2}$": "whsec_" + "A" * 32,
    "^[0-9]+$": "123",
}
FORMAT_EXAMPLES = {
    "uuid": "0190a0e4-8d5b-7c1e-9a3f-1b2c3d4e5f60",
    "date-time": "2026-11-26T10:00:00Z",
    "uri": "https://hooks.example.com/ordo",
    "email": "ada@example.com",
}
# Values tried at every position of a valid instance (none ends in a newline: jsonschema
# matches patterns with Python's `$`, which the ECMA test below covers instead).
POOL: list[Any] = [
    None, True, False, 0, -1, 1, 1.0, 1.5, 2**63, -(2**63) - 1, 900000000000001,
    "", "x", "EUR", "eur", "EU", " EUR", "SKU-1", "-SKU", "a" * 65, "a" * 201, "a" * 256,
    "a" * 513, "bearer", "cookie", "pending", "order.placed", "nope",
    str(uuid.uuid4()), uuid.uuid4().hex, "0190a0e4-8d5b-7c1e-9a3f-1b2c3d4e5f6g",
    "2026-11-26T10:00:00Z", "2026-11-26T10:00:00+01:00", "2026-11-26T10:00:00",
    "2026-13-01T00:00:00Z", "2026-11-26", "https://example.com/x", "not a uri", "http//x",
    "whsec_" + "A" * 32, "whsec_" + "A" * 31, "ada@example.com", "ada", "key with space",
    [], [1], ["x"], ["order.placed", "order.placed"], ["order.placed", "payment.failed"],
    {}, {"a": 1},
]  # fmt: skip


def _resolve(node: Any) -> Any:
    return contract().resolve(node)


def build(schema: Any) -> Any:
    """A valid instance of ``schema`` (every optional property included)."""
    schema = _resolve(schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return next(v for v in schema["enum"] if v is not None)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            branches = [_resolve(b) for b in schema[key]]
            return build(next(b for b in branches if b.get("type") != "null"))
    kind = schema.get("type")
    kind = next(t for t in kind if t != "null") if isinstance(kind, list) else kind
    if kind == "string":
        if "format" in schema:
            return FORMAT_EXAMPLES[schema["format"]]
        if "pattern" in schema:
            return PATTERN_EXAMPLES[schema["pattern"]]
        return "t" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        low = schema.get("minimum", 1)
        return max(low, 1) if schema.get("maximum", 2) >= 1 else low
    if kind == "number":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "array":
        items = _resolve(schema.get("items", {}))
        if "enum" in items:
            return items["enum"][: max(1, schema.get("minItems", 1))]
        return [build(items)] * max(1, schema.get("minItems", 1))
    if kind == "object":
        return {name: build(sub) for name, sub in schema.get("properties", {}).items()}
    return {}


def boundaries(schema: Any) -> list[Any]:
    schema = _resolve(schema)
    found: list[Any] = []
    for key in ("minimum", "maximum"):
        if key in schema:
            found += [schema[key] - 1, schema[key], schema[key] + 1]
    for key in ("minLength", "maxLength"):
        if key in schema:
            found += ["a" * max(0, schema[key] - 1), "a" * schema[key], "a" * (schema[key] + 1)]
    for key in ("minItems", "maxItems"):
        if key in schema:
            item = build(schema.get("items", {}))
            found += [[item] * max(0, schema[key] - 1), [item] * (schema[key] + 1)]
    for sub in schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", []):
        found += boundaries(sub)
    if "items" in schema:
        found += [[b] for b in boundaries(schema["items"])]
    return found


def variants(schema: Any, value: Any) -> Iterator[Any]:
    """``value`` with each position replaced by each candidate, keys dropped and added."""
    schema = _resolve(schema)
    yield from [*POOL, *boundaries(schema)]
    if isinstance(value, dict):
        properties = {}
        for branch in [schema, *(_resolve(b) for b in schema.get("allOf", []))]:
            properties.update(branch.get("properties", {}))
        yield {**value, "unexpected": 1}
        for name, item in value.items():
            yield {k: v for k, v in value.items() if k != name}
            for replaced in variants(properties.get(name, {}), item):
                yield {**value, name: replaced}
    if isinstance(value, list) and value:
        items = schema.get("items", {})
        yield [*value, value[0]]
        for replaced in variants(items, value[0]):
            yield [replaced, *value[1:]]


def _schemas() -> list[Any]:
    params = []
    for operation_id in sorted(contract().operation_ids):
        operation = contract().operation(operation_id)
        if operation.body is not None:
            schema = operation.body.spec["content"]["application/json"]["schema"]
            params.append(pytest.param(schema, id=f"{operation_id}-body"))
        for parameter in operation.parameters:
            label = f"{operation_id}-{parameter.location}-{parameter.name}"
            params.append(pytest.param(parameter.spec["schema"], id=label))
    return params


@pytest.mark.parametrize("schema", _schemas())
def test_verdicts_equal_the_reference_implementation(schema: Any) -> None:
    mine, reference = compile_schema(schema, contract().components), oracle(schema)
    valid = build(schema)
    assert reference.is_valid(valid), "the test's own example must be valid"
    assert mine.errors(valid) == []
    checked = disagreements = 0
    examples = []
    for candidate in variants(schema, valid):
        checked += 1
        if mine.is_valid(candidate) != reference.is_valid(candidate):
            disagreements += 1
            examples.append(candidate)
    assert not disagreements, f"{disagreements}/{checked} disagree, e.g. {examples[:3]!r}"
    assert checked >= len(POOL)


def test_both_sides_reject_something_for_every_schema() -> None:
    """Guards the test above against vacuous passes: candidates include invalid ones."""
    for param in _schemas():
        schema = param.values[0]
        mine = compile_schema(schema, contract().components)
        assert any(not mine.is_valid(c) for c in variants(schema, build(schema))), param.id


def test_dollar_means_end_of_input_as_in_ecma_262() -> None:
    currency = compile_schema({"type": "string", "pattern": "^[A-Z]{3}$"}, {})
    assert currency.is_valid("EUR")
    assert not currency.is_valid("EUR\n")
    key = compile_schema(_resolve({"$ref": "#/components/parameters/IdempotencyKey"})["schema"], {})
    assert not key.is_valid("abc\n")
    assert not key.is_valid("ab c")
    digits = compile_schema({"type": "string", "pattern": r"^\d+$"}, {})
    assert digits.is_valid("123")
    assert not digits.is_valid("١٢٣")  # Arabic-Indic digits: ECMA's \d is ASCII


def test_integers_follow_json_not_python() -> None:
    delta = compile_schema(
        _resolve({"$ref": "#/components/schemas/AdjustStockRequest"}), contract().components
    )
    assert delta.is_valid({"delta": 5, "reason": "received"})
    assert delta.is_valid({"delta": 5.0, "reason": "received"})  # 5.0 is an integer in JSON
    assert not delta.is_valid({"delta": True, "reason": "received"})  # a bool is not
    assert not delta.is_valid({"delta": 0, "reason": "received"})
    [error] = delta.errors({"delta": 0, "reason": "r"}, ("body",))
    assert (error.path, error.type, error.message) == ("body.delta", "not", "Input should not be 0")


def test_errors_locate_every_problem_and_never_echo_the_input() -> None:
    login = compile_schema(
        _resolve({"$ref": "#/components/schemas/LogInRequest"}), contract().components
    )
    secret = "hunter2-secret-password-" * 10
    errors = login.errors({"email": "x", "password": secret, "org_id": "nope", "x": 1}, ("body",))
    assert {(e.path, e.type) for e in errors} == {
        ("body.email", "string_too_short"),
        ("body.password", "string_too_long"),
        ("body.org_id", "uuid_format"),
        ("body.x", "extra_forbidden"),
    }
    assert all("hunter2" not in e.message and "nope" not in e.message for e in errors)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "format": "hostnames"},  # an unknown format is refused, not ignored
        {"type": "integer", "format": "int32"},  # nothing checks int32 ranges: refused
        {"$ref": "https://example.com/schema.json"},  # nothing is fetched
        {"$ref": "#/components/schemas/Missing"},
        {"$ref": "#/components/schemas/Broken"},  # the target is compiled too
        {"type": "strings"},
        {"type": "string", "minLength": "3"},
        {"type": "string", "pattern": "("},
        {"type": "string", "pattern": "^(?!admin)"},  # look-around needs backtracking: refused
    ],
)
def test_what_cannot_be_enforced_fails_to_compile(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaCompileError):
        compile_schema(schema, {"schemas": {"Broken": {"type": "string", "format": "nope"}}})


def test_a_contract_the_library_refuses_stops_the_gateway() -> None:
    document = json.loads(json.dumps(contract().document))
    document["components"]["schemas"]["Sku"]["pattern"] = "^(?<=x)"
    with pytest.raises(SchemaCompileError):
        Contract(document)


def test_keywords_the_old_engine_lacked_are_enforced() -> None:
    even = compile_schema({"type": "integer", "multipleOf": 2}, {})
    assert even.is_valid(4)
    [error] = even.errors(3, ("query", "n"))
    assert (error.path, error.type, error.message) == (
        "query.n",
        "multiple_of",
        "Input should be a multiple of 2",
    )
    keyed = compile_schema({"type": "object", "patternProperties": {"^x-": {"type": "string"}}}, {})
    assert keyed.is_valid({"x-a": "b", "other": 1})
    assert {(e.path, e.type) for e in keyed.errors({"x-a": 1})} == {("x-a", "string_type")}


def test_unions_name_the_branch_the_value_was_meant_for() -> None:
    line = compile_schema(
        _resolve({"$ref": "#/components/schemas/OrderLine"}), contract().components
    )
    valid = {"sku": "A", "quantity": 1, "product_id": None, "unit_price": None, "line_total": None}
    assert line.is_valid(valid)
    price = {"amount_minor": -1, "currency": "EUR"}
    errors = line.errors({**valid, "unit_price": price, "line_total": 5}, ("body",))
    assert {(e.path, e.type) for e in errors} == {
        ("body.unit_price.amount_minor", "greater_than_equal"),  # meant the Money branch
        ("body.line_total", "union"),  # a number: neither Money nor null
    }
    nullable = compile_schema({"type": ["string", "null"], "format": "uuid"}, {})
    [error] = nullable.errors(5, ("query", "id"))
    assert (error.type, error.message) == ("string_type", "Input should be of type string or null")


def test_email_is_deliberately_loose() -> None:
    email = compile_schema({"type": "string", "format": "email"}, {})
    assert email.is_valid("élise@exämple.com")  # identity, which owns users, checks properly
    assert not email.is_valid("elise")


def test_no_message_quotes_the_input() -> None:
    secret = "hunter2"
    schemas = [
        {"type": "integer"},
        {"enum": ["a", "b"]},
        {"const": "a"},
        {"not": {"type": "string"}},
        {"type": "string", "maxLength": 3},
        {"type": "string", "pattern": "^[0-9]+$"},
        {"type": "string", "format": "uuid"},
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "uri"},
        {"type": "array", "items": {"type": "integer"}},
        {"type": "array", "uniqueItems": True},
        {"type": "object", "propertyNames": {"maxLength": 1}},
        {"anyOf": [{"type": "string", "maxLength": 1}, {"type": "string", "pattern": "^x$"}]},
        {"oneOf": [{"type": "string"}, {"minLength": 1}]},
        False,
    ]
    for schema in schemas:
        for value in (secret, [secret, secret], {secret: secret}):
            for error in compile_schema(schema, {}).errors(value, ("body",)):
                assert secret not in error.message, (schema, error)


def test_the_whole_contract_compiles() -> None:
    # Every operation of the file, counted independently of the loader: none is dropped.
    paths = yaml.safe_load(Path(CONTRACT).read_text())["paths"]
    operations = [op for item in paths.values() for op in item.values() if isinstance(op, dict)]
    declared = {op["operationId"] for op in operations if "operationId" in op}
    assert len(declared) > 30
    assert set(contract().operation_ids) == declared
