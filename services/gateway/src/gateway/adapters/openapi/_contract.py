"""The public contract (contracts/openapi/gateway.v1.yaml) as operations the gateway can enforce.

:class:`Contract` loads the document once; :meth:`Contract.operation` returns an
:class:`Operation`: its method and path, its parameters and request body, each holding the
contract's own text (what is served) and the validator compiled from it (what is enforced).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.adapters.openapi._schema import SchemaCompileError, SchemaValidator, compile_schema

__all__ = ["Body", "Contract", "Operation", "Parameter", "find_contract"]

CONTRACT_FILE = Path("contracts") / "openapi" / "gateway.v1.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
JSON = "application/json"
_SCALAR_TYPES = frozenset({"string", "integer", "number", "boolean"})


def find_contract(start: Path) -> Path:
    """Find ``contracts/openapi/gateway.v1.yaml`` in ``start`` or one of its parents."""
    for folder in (start, *start.parents):
        candidate = folder / CONTRACT_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{CONTRACT_FILE} not found above {start}; set ORDO_CONTRACT_PATH")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One declared parameter: the contract's object (served) and its compiled schema.

    ``kind`` says how raw strings become JSON values before validation (OpenAPI styles
    ``form``/``simple`` with scalar or exploded array schemas).
    """

    spec: Mapping[str, Any]
    validator: SchemaValidator
    kind: str
    item_kind: str | None = None

    @property
    def name(self) -> str:
        """The parameter's name as the contract spells it."""
        return str(self.spec["name"])

    @property
    def location(self) -> str:
        """``path``, ``query`` or ``header``."""
        return str(self.spec["in"])

    @property
    def required(self) -> bool:
        """Whether the request must carry it."""
        return bool(self.spec.get("required", False))

    @property
    def default(self) -> Any:
        """The schema's default, or None."""
        return self.validator.schema.get("default")


@dataclass(frozen=True, slots=True)
class Body:
    """The JSON request body: the contract's requestBody (served) and its compiled schema."""

    spec: Mapping[str, Any]
    validator: SchemaValidator

    @property
    def required(self) -> bool:
        """Whether a body must be sent."""
        return bool(self.spec.get("required", False))


@dataclass(frozen=True, slots=True)
class Operation:
    """One operation of the contract, ready to validate requests and to be served."""

    operation_id: str
    method: str
    path: str
    spec: Mapping[str, Any] = field(repr=False)
    parameters: tuple[Parameter, ...] = field(repr=False)
    body: Body | None = field(repr=False)

    def response_headers(self, status: int) -> frozenset[str]:
        """The (lower-case) header names the contract declares for a ``status`` answer."""
        responses = self.spec.get("responses", {})
        response = (
            responses.get(str(status))
            or responses.get(f"{str(status)[0]}XX")
            or responses.get("default")
            or {}
        )
        return frozenset(name.lower() for name in response.get("headers", {}))


class Contract:
    """The parsed contract, its components, and an operation per operationId.

    Args:
        document: the OpenAPI 3.1 document (as parsed JSON/YAML).
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        json.dumps(document)  # served as JSON: fail now on YAML-only values (dates, ...)
        self.document = document
        self.components: Mapping[str, Any] = document.get("components", {})
        self._operations: dict[str, Operation] = {}
        for path, item in document.get("paths", {}).items():
            for method, spec in item.items():
                if method in METHODS:
                    operation = self._compile(path, method, spec, item.get("parameters", []))
                    self._operations[operation.operation_id] = operation

    @classmethod
    def load(cls, path: Path) -> Contract:
        """Read and compile the contract file at ``path``."""
        text = path.read_text(encoding="utf-8")
        if yaml.__with_libyaml__:  # the C build of the safe loader: ten times faster
            return cls(yaml.load(text, Loader=yaml.CSafeLoader))
        return cls(yaml.safe_load(text))

    @property
    def operation_ids(self) -> frozenset[str]:
        """Every operationId of the contract."""
        return frozenset(self._operations)

    def operation(self, operation_id: str) -> Operation:
        """The operation ``operation_id`` (``KeyError`` if the contract lacks it)."""
        return self._operations[operation_id]

    def resolve(self, node: Any) -> Any:
        """Follow local references until ``node`` is not one."""
        while isinstance(node, Mapping) and "$ref" in node:
            target: Any = self.document
            for part in str(node["$ref"]).removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def _compile(
        self, path: str, method: str, spec: Mapping[str, Any], shared: list[Any]
    ) -> Operation:
        where = f"{method.upper()} {path}"
        declared: dict[tuple[str, str], Mapping[str, Any]] = {}
        for raw in [*shared, *spec.get("parameters", [])]:
            param = self.resolve(raw)
            declared[(param["in"], param["name"].lower())] = param  # operation level wins
        parameters = tuple(self._parameter(p, where) for p in declared.values())
        body = None
        if "requestBody" in spec:
            request_body = self.resolve(spec["requestBody"])
            content = request_body.get("content", {})
            if set(content) != {JSON}:
                raise SchemaCompileError(f"{where}: only {JSON} request bodies are supported")
            body = Body(request_body, compile_schema(content[JSON]["schema"], self.components))
        return Operation(
            operation_id=str(spec["operationId"]),
            method=method.upper(),
            path=path,
            spec=spec,
            parameters=parameters,
            body=body,
        )

    def _parameter(self, spec: Mapping[str, Any], where: str) -> Parameter:
        location = spec["in"]
        if location not in ("path", "query", "header"):
            raise SchemaCompileError(f"{where}: {location} parameters are not supported")
        validator = compile_schema(spec["schema"], self.components)
        schema = self.resolve(spec["schema"])
        kind = schema.get("type")
        if kind == "array" and location == "query" and spec.get("explode", True):
            items = self.resolve(schema.get("items", {}))
            item_kind = items.get("type")
            if item_kind not in _SCALAR_TYPES or spec.get("style", "form") != "form":
                raise SchemaCompileError(f"{where}: {spec['name']} must be a form array of scalars")
            return Parameter(spec, validator, "array", item_kind)
        if kind not in _SCALAR_TYPES:
            raise SchemaCompileError(f"{where}: {spec['name']} must have a scalar type")
        return Parameter(spec, validator, str(kind))
