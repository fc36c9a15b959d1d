"""schemathesis hooks (``SCHEMATHESIS_HOOKS=hooks``): schema-valid requests must be accepted,
except for the refusals the contract declares beyond its schema.

schemathesis' own ``positive_data_acceptance`` fails any 4xx outside a fixed set for a request
its schema calls valid. Some refusals no JSON Schema can express: an Idempotency-Key reused
with another body, a cursor the server never issued, a range whose ends are crossed, stock that
would go negative. The contract's conventions cover the first two (every operation taking an
Idempotency-Key or a cursor); the others are named per operation under ``x-rejections``: a
problem ``code``, the ``field`` as problem+json names it when the refusal is about one input
(``query.placed_after``), and ``why``. This check fails every other 4xx of a schema-valid
request.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis
from jsonschema import Draft202012Validator, FormatChecker

# Refusals that depend on who asks or on state, never on the request's shape: always allowed.
_ALWAYS = frozenset({401, 403, 404, 409, 429})
# The contracts' rule for every string (issue 11): text PostgreSQL cannot store (NUL, an
# unpaired surrogate) is refused with this error type, naming the field.
_UNSTORABLE = "string_unstorable"


@schemathesis.check
def declared_rejections(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request gets 2xx/3xx, an auth/state/limit refusal, or a declared one."""
    meta = case.meta
    status = response.status_code
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if status < 400 or status >= 500 or status in _ALWAYS:
        return None
    if not _path_parameters_valid(case):
        # A stateful link fed a value its target's schema refuses (null rendered "None"):
        # the request was not schema-valid, whatever the generator's mode says.
        return None
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    code = problem.get("code") if isinstance(problem, dict) else None
    fields = {e.get("path") for e in problem.get("errors") or [] if isinstance(e, dict)}
    if fields and all(e.get("type") == _UNSTORABLE for e in problem.get("errors")):
        return None
    for declared in _declared(case):
        if declared.get("code") == code and (
            "field" not in declared or fields == {declared["field"]}
        ):
            return None
    raise AssertionError(
        f"Schema-valid request rejected: {status} {code} {sorted(map(str, fields))}. Fix the "
        f"code or the contract, or declare it under x-rejections of {case.operation.label}."
    )


def _declared(case: Any) -> list[dict[str, str]]:
    """The operation's ``x-rejections`` plus those of the contract's conventions
    (contracts/README.md): a reused Idempotency-Key, a cursor not issued for this list."""
    raw = case.operation.definition.raw
    document = case.operation.schema.raw_schema
    declared = list(raw.get("x-rejections", []))
    for parameter in (_resolve(document, p) for p in raw.get("parameters", [])):
        where = (parameter.get("in"), parameter.get("name", "").lower())
        if where == ("header", "idempotency-key"):
            declared.append({"code": "idempotency.key_reused"})
        if where == ("query", "cursor"):
            declared.append({"code": "validation.failed", "field": "query.cursor"})
    return declared


def _path_parameters_valid(case: Any) -> bool:
    raw = case.operation.definition.raw
    document = case.operation.schema.raw_schema
    for parameter in (_resolve(document, p) for p in raw.get("parameters", [])):
        if parameter.get("in") != "path":
            continue
        value = (case.path_parameters or {}).get(parameter["name"])
        validator = Draft202012Validator(
            _resolve(document, parameter.get("schema", {})), format_checker=FormatChecker()
        )
        if value is None or not validator.is_valid(value):
            return False
    return True


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    """A fresh Idempotency-Key for every call, as a client sends for each distinct request.

    Generated keys repeat (the shrinker likes "0"): a create that reuses the key of an earlier
    create is answered with the earlier response (the contract's replay rule), whose resource
    the stateful phase may have deleted since; ST302 then calls the replayed resource "created
    and not found". Replays are tested where they are the subject (shared.idempotency's and the
    services' integration tests).
    """
    headers = case.headers
    meta = case.meta
    if headers is None or (meta is not None and not meta.generation.mode.is_positive):
        return  # a negative case's key may be the very thing meant to be refused
    for name in list(headers):
        if name.lower() == "idempotency-key":
            headers[name] = f"st-{uuid.uuid4()}"
