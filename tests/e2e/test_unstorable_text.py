"""Text the database cannot store is refused at the edge, on every operation, and stores nothing.

Driven by the contracts, not a hand list: every operation of contracts/openapi/gateway.v1.yaml
(through the gateway) and of each service's internal contract (straight to the service: a
service refuses such text itself, gateway or not) that takes a string anywhere, in its path,
query or JSON body at any depth. For each such field, the test builds a request the contract
calls valid (checked against the operation's own schema) and puts a NUL (``"a\\u0000b"``) or a
lone surrogate (``"a\\ud800b"``) in that one field. The answer must be a 422 problem+json whose
only error names that field with type ``string_unstorable``. Then the tenant's state, read
through every GET operation of the public contract, is what it was before, and no sign-up
created a user.

A URL cannot carry a lone surrogate (percent-decoding turns its UTF-8 bytes into U+FFFD, which
is storable), so path and query fields get the NUL; their percent-encoded surrogate bytes must
merely not be a 5xx. Header parameters are left out: HTTP servers and clients refuse control
characters in header values, and a header is Latin-1, which holds no surrogate.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema_rs
import pytest
import yaml

from .conftest import GATEWAY, REPO, eventually

OPENAPI = REPO / "contracts" / "openapi"
METHODS = ("get", "put", "post", "delete", "patch")
BAD = {"nul": "a\x00b", "lone surrogate": "a\ud800b"}
UNSTORABLE = "string_unstorable"
# Strings with a pattern and no example in the contracts: a valid value for each.
PATTERN_SAMPLES = {
    r"^whsec_[A-Za-z0-9+/]{32,}={0,2}$": "whsec_" + "A" * 43 + "=",
}
Loc = tuple[str | int, ...]


# --- the contract: every string field of every operation ---


@dataclass(frozen=True)
class Slot:
    """One string field of one operation: where it is and the error path that must name it."""

    operation_id: str
    method: str
    path: str
    location: str  # path, query or body
    loc: Loc  # the parameter name, or the location inside the body
    array: bool = False  # an exploded query array (the gateway names the item, .0)

    def label(self) -> str:
        return f"{self.operation_id} {self.location}.{'.'.join(map(str, self.loc))}"


class Document:
    """One OpenAPI document: references resolved on demand."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.doc: dict[str, Any] = yaml.safe_load(file.read_text(encoding="utf-8"))

    def resolve(self, node: Any) -> Any:
        while isinstance(node, Mapping) and "$ref" in node:
            target: Any = self.doc
            for part in str(node["$ref"]).removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
        for path, item in self.doc["paths"].items():
            for method, op in item.items():
                if method in METHODS:
                    params = [
                        self.resolve(p)
                        for p in [*item.get("parameters", []), *op.get("parameters", [])]
                    ]
                    yield path, method, op, params

    def body_schema(self, op: Mapping[str, Any]) -> Any:
        if "requestBody" not in op:
            return None
        return self.resolve(op["requestBody"])["content"]["application/json"]["schema"]

    def slots(self) -> list[Slot]:
        found = []
        for path, method, op, params in self.operations():
            here = {"operation_id": op["operationId"], "method": method.upper(), "path": path}
            for param in params:
                if param["in"] not in ("path", "query"):
                    continue
                schema = self.resolve(param["schema"])
                array = schema.get("type") == "array"
                if self._is_string(self.resolve(schema["items"]) if array else schema):
                    found.append(
                        Slot(**here, location=param["in"], loc=(param["name"],), array=array)
                    )
            body = self.body_schema(op)
            if body is not None:
                found.extend(
                    Slot(**here, location="body", loc=loc) for loc in self._strings(body, ())
                )
        return found

    def _branches(self, schema: Mapping[str, Any]) -> list[Any]:
        union = schema.get("anyOf") or schema.get("oneOf") or []
        return [b for b in map(self.resolve, union) if b.get("type") != "null"]

    def _is_string(self, schema: Mapping[str, Any]) -> bool:
        kind = schema.get("type")
        return kind == "string" or (isinstance(kind, list) and "string" in kind)

    def _strings(self, schema: Any, loc: Loc) -> list[Loc]:
        schema = self.resolve(schema)
        branches = self._branches(schema)
        if branches:
            return self._strings(branches[0], loc)
        if self._is_string(schema):
            return [loc]
        found = []
        for name, child in schema.get("properties", {}).items():
            found.extend(self._strings(child, (*loc, name)))
        if schema.get("type") == "array":
            found.extend(self._strings(schema.get("items", {}), (*loc, 0)))
        return found

    # --- a value the schema accepts, with ``target`` (a location inside it) made present ---

    def sample(self, schema: Any, target: Loc | None, ids: Mapping[str, str]) -> Any:
        schema = self.resolve(schema)
        branches = self._branches(schema)
        if branches:
            return self.sample(branches[0], target, ids)
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            wanted = [
                n
                for n in properties
                if n in schema.get("required", []) or (target and n == target[0])
            ]
            return {n: self.sample(properties[n], _under(target, n), ids) for n in wanted}
        if kind == "array":
            count = max(schema.get("minItems", 1), 1)
            return [
                self.sample(schema.get("items", {}), _under(target, i), ids) for i in range(count)
            ]
        if kind == "integer":
            return max(int(schema.get("minimum", 1)), 1)
        if kind == "number":
            return float(schema.get("minimum", 1))
        if kind == "boolean":
            return False
        return sample_string(schema, ids)

    def validator(self, schema: Any) -> jsonschema_rs.Validator:
        root = {**self.resolve(schema), "components": self.doc.get("components", {})}
        return jsonschema_rs.validator_for(root)


def _under(target: Loc | None, step: str | int) -> Loc | None:
    return target[1:] if target and target[0] == step else None


def sample_string(schema: Mapping[str, Any], ids: Mapping[str, str]) -> str:
    for key in ("const", "default"):
        if key in schema:
            return str(schema[key])
    for key in ("enum", "examples"):
        if schema.get(key):
            return str(schema[key][0])
    fmt = schema.get("format")
    if fmt == "uuid":
        return ids.get("uuid", str(uuid.uuid4()))
    if fmt == "email":
        return f"unstorable-{uuid.uuid4().hex[:12]}@example.com"
    if fmt == "uri":
        return "http://127.0.0.1:9/hooks"
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    pattern = schema.get("pattern")
    if pattern is not None:
        assert pattern in PATTERN_SAMPLES, f"add a sample for the contract's pattern {pattern!r}"
        return PATTERN_SAMPLES[pattern]
    return "x" * max(int(schema.get("minLength", 1)), 1)


# --- the stack ---


# Each service's API port, the same in both layouts of infra/services.sh (README: Running).
API_PORTS = {
    "identity": 8001,
    "catalog": 8002,
    "orders": 8003,
    "payments": 8004,
    "notifications": 8005,
}


def base_url(contract: str) -> str:
    """The gateway, or the service's own API (``ORDO_E2E_<SERVICE>_URL`` overrides)."""
    if contract == "gateway.v1":
        return GATEWAY
    default = f"http://127.0.0.1:{API_PORTS[contract]}"
    return os.environ.get(f"ORDO_E2E_{contract.upper()}_URL", default)


@dataclass
class Seeded:
    """A fresh tenant with one of each resource, settled (nothing moves any more)."""

    http: httpx.AsyncClient
    ids: dict[str, str]  # path parameter name -> a real value of this tenant
    signups: list[tuple[str, str]]  # (email, password) of the refused sign-ups


async def seed(http: httpx.AsyncClient) -> Seeded:
    tag = uuid.uuid4().hex[:10]
    key = {"Idempotency-Key": f"seed-{tag}"}
    signed = await http.post(
        f"{GATEWAY}/v1/auth/signup",
        json={
            "email": f"unstorable-{tag}@example.com",
            "password": f"unstorable password {tag}",
            "display_name": "Unstorable",
            "org_name": "Unstorable text",
        },
        headers=key,
    )
    assert signed.status_code == 201, signed.text
    session = signed.json()
    http.headers["authorization"] = f"Bearer {session['access_token']}"
    sku = f"TXT-{tag}"
    product = await _created(
        http,
        "/v1/products",
        {"sku": sku, "name": "Text", "price": {"amount_minor": 100, "currency": "EUR"}},
    )
    stock = await http.put(f"{GATEWAY}/v1/stock/{sku}", json={"on_hand": 5})
    assert stock.status_code == 200, stock.text
    order = await _created(
        http, "/v1/orders", {"currency": "EUR", "lines": [{"sku": sku, "quantity": 1}]}
    )
    endpoint = await _created(
        http,
        "/v1/webhook-endpoints",  # subscribed to an event this tenant will never cause
        {"url": "http://127.0.0.1:9/hooks", "event_types": ["payment.failed"]},
    )

    async def settled() -> bool:
        got = (await http.get(f"{GATEWAY}/v1/orders/{order['id']}")).json()
        level = (await http.get(f"{GATEWAY}/v1/stock/{sku}")).json()
        last.update(order=got.get("status"), reserved=level.get("reserved"))
        return got["status"] == "confirmed" and level["reserved"] == 0

    last: dict[str, Any] = {}
    try:
        await eventually(settled, within=60)
    except AssertionError as exc:
        raise AssertionError(f"the seeded tenant did not settle: {last}") from exc
    ids = {
        "org_id": str(session["org_id"]),
        "user_id": str(session["user_id"]),
        "product_id": product["id"],
        "sku": sku,
        "order_id": order["id"],
        "endpoint_id": endpoint["id"],
    }
    return Seeded(http, ids, [])


async def _created(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await http.post(
        f"{GATEWAY}{path}", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def state(seeded: Seeded) -> dict[str, Any]:
    """The tenant as every GET operation of the public contract shows it."""
    public = Document(OPENAPI / "gateway.v1.yaml")
    seen: dict[str, Any] = {}
    for path, method, _op, params in public.operations():
        names = [p["name"] for p in params if p["in"] == "path"]
        if method != "get" or any(name not in seeded.ids for name in names):
            continue
        url = GATEWAY + _fill(path, {n: seeded.ids[n] for n in names})
        answer = await seeded.http.get(url)
        seen[url] = (answer.status_code, answer.json())
    return seen


def _fill(path: str, values: Mapping[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: quote(values[m.group(1)], safe=""), path)


# --- the test ---


@dataclass(frozen=True)
class Attempt:
    slot: Slot
    bad: str  # the name in BAD
    url: str
    body: bytes | None
    headers: dict[str, str]


def attempts(document: Document, base: str, prefix: str, seeded: Seeded) -> Iterator[Attempt]:
    operations = {op["operationId"]: (op, params) for _, _, op, params in document.operations()}
    for slot in document.slots():
        op, params = operations[slot.operation_id]
        for bad_name, bad in BAD.items():
            if slot.location != "body" and bad_name != "nul":
                continue
            path_values = {
                p["name"]: seeded.ids.get(p["name"], str(uuid.uuid4()))
                for p in params
                if p["in"] == "path"
            }
            query: list[tuple[str, str]] = []
            if slot.location == "path":
                path_values[slot.loc[0]] = bad  # type: ignore[index]
            elif slot.location == "query":
                query.append((str(slot.loc[0]), bad))
            headers = {"content-type": "application/json"}
            if any(p["in"] == "header" and p["name"] == "Idempotency-Key" for p in params):
                headers["Idempotency-Key"] = f"unstorable-{uuid.uuid4()}"
            body = None
            schema = document.body_schema(op)
            if schema is not None:
                target = slot.loc if slot.location == "body" else None
                value = document.sample(schema, target, seeded.ids)
                problems = [str(e) for e in document.validator(schema).iter_errors(value)]
                assert not problems, f"{slot.label()}: the test's valid body is not: {problems}"
                if slot.operation_id == "signUp" and target != ("email",):
                    # The user it would create must not be able to log in afterwards.
                    seeded.signups.append((value["email"], value["password"]))
                if target is not None:
                    value = _set(value, target, bad)
                body = json.dumps(value).encode()  # escapes: "\u0000", "\ud800"
            url = base + prefix + _fill(slot.path, path_values)
            if query:
                url += "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query)
            yield Attempt(slot, bad_name, url, body, headers)


def _set(value: Any, loc: Loc, new: str) -> Any:
    node = value
    for step in loc[:-1]:
        node = node[step]
    node[loc[-1]] = new
    return value


def expected_path(slot: Slot, via_gateway: bool) -> str:
    loc = (*slot.loc, 0) if slot.array and via_gateway else slot.loc
    return ".".join(map(str, (slot.location, *loc)))


@pytest.mark.parametrize("contract", ["gateway.v1", *API_PORTS])
async def test_unstorable_text_is_refused_by_field_and_nothing_is_stored(contract: str) -> None:
    document = Document(OPENAPI / f"{contract}.yaml")
    via_gateway = contract == "gateway.v1"
    base = base_url(contract)
    async with httpx.AsyncClient(timeout=30) as http:
        seeded = await seed(http)
        before = await state(seeded)
        tried, wrong = 0, []
        for attempt in attempts(document, base, "", seeded):
            answer = await http.request(
                attempt.slot.method, attempt.url, content=attempt.body, headers=attempt.headers
            )
            tried += 1
            want = {(expected_path(attempt.slot, via_gateway), UNSTORABLE)}
            got = _problem_fields(answer)
            if answer.status_code != 422 or got != want:
                found = got or answer.text[:200]
                wrong.append(
                    f"{attempt.slot.label()} [{attempt.bad}]: {answer.status_code} {found}"
                )
        # A lone surrogate's bytes in a URL decode to U+FFFD: ordinary text, never a 5xx.
        for slot in document.slots():
            if slot.location in ("path", "query") and slot.method == "GET":
                url = _surrogate_url(slot, base, seeded)
                answer = await http.get(url)
                if answer.status_code >= 500:
                    wrong.append(f"{slot.label()} [surrogate bytes]: {answer.status_code}")
        assert tried, f"{contract}: no string field found: is the contract read right?"
        assert not wrong, (
            f"{contract}: {len(wrong)} of {tried} not refused as expected:\n" + "\n".join(wrong)
        )
        assert await state(seeded) == before
        for email, password in seeded.signups:
            login = await http.post(
                f"{GATEWAY}/v1/auth/login", json={"email": email, "password": password}
            )
            assert login.status_code == 401, f"a refused sign-up created {email}: {login.text}"


def _problem_fields(answer: httpx.Response) -> set[tuple[str, str]]:
    if not answer.headers.get("content-type", "").startswith("application/problem+json"):
        return set()
    problem = answer.json()
    if problem.get("code") != "validation.failed":
        return set()
    return {(e["path"], e["type"]) for e in problem.get("errors") or []}


def _surrogate_url(slot: Slot, base: str, seeded: Seeded) -> str:
    encoded = quote("a\ud800b".encode("utf-8", "surrogatepass"), safe="")
    names = re.findall(r"\{([^}]+)\}", slot.path)
    values = {n: seeded.ids.get(n, str(uuid.uuid4())) for n in names}
    if slot.location == "path":
        return base + re.sub(
            r"\{([^}]+)\}",
            lambda m: encoded if m.group(1) == slot.loc[0] else quote(values[m.group(1)], safe=""),
            slot.path,
        )
    return base + _fill(slot.path, values) + f"?{slot.loc[0]}={encoded}"
