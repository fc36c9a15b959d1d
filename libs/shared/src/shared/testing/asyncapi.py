"""Validate event records against their AsyncAPI contract, for contract and e2e tests.

::

    contract = EventContract.load(repo / "contracts" / "asyncapi" / "orders.yaml")
    contract.validate(ce_type, headers, payload)   # AssertionError listing every violation

The contract's ``$ref``s (local and to sibling files such as ``common.yaml``) are inlined, so
plain JSON Schema validators (``jsonschema``, a test dependency, imported lazily) check the
headers and the payload of each message, keyed by its ``x-ce-type``. :func:`resolved_schema`
does the same for any schema of a contract (an OpenAPI component, a webhook body)::

    schema = resolved_schema(repo / "contracts/openapi/gateway.v1.yaml",
                             "components", "schemas", "WebhookMessage")
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["EventContract", "MessageSchema", "resolved_schema"]


@cache
def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _inline(node: Any, document: dict[str, Any], base: Path) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            file, _, pointer = str(node["$ref"]).partition("#")
            if file:
                base = (base.parent / file).resolve()
                document = _load(base)
            target: Any = document
            for part in pointer.strip("/").split("/"):
                target = target[part]
            return _inline(target, document, base)
        return {key: _inline(value, document, base) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(value, document, base) for value in node]
    return node


def resolved_schema(path: Path, *pointer: str) -> Any:
    """The node at ``pointer`` of the YAML document at ``path``, every ``$ref`` inlined."""
    resolved = path.resolve()
    document = _load(resolved)
    node: Any = document
    for part in pointer:
        node = node[part]
    return _inline(node, document, resolved)


@dataclass(frozen=True)
class MessageSchema:
    """One message of a contract: its CloudEvents type and JSON Schemas, references inlined."""

    ce_type: str
    name: str
    headers: dict[str, Any]
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventContract:
    """The messages of one or more AsyncAPI documents, by ``x-ce-type``."""

    messages: Mapping[str, MessageSchema]

    @classmethod
    def load(cls, *paths: Path) -> EventContract:
        """Read the ``components.messages`` of every document that has an ``x-ce-type``."""
        messages: dict[str, MessageSchema] = {}
        for path in paths:
            resolved = path.resolve()
            document = _load(resolved)
            for message in document.get("components", {}).get("messages", {}).values():
                ce_type = message.get("x-ce-type")
                if ce_type is None:
                    continue
                messages[ce_type] = MessageSchema(
                    ce_type=ce_type,
                    name=str(message.get("name", ce_type)),
                    headers=_inline(message.get("headers", {}), document, resolved),
                    payload=_inline(message["payload"], document, resolved),
                )
        return cls(messages)

    @classmethod
    def load_dir(cls, directory: Path, names: Iterable[str] | None = None) -> EventContract:
        """Every ``*.yaml`` of ``directory`` (or only ``names``, without the suffix)."""
        files = sorted(directory.glob("*.yaml"))
        if names is not None:
            wanted = set(names)
            files = [f for f in files if f.stem in wanted]
        return cls.load(*files)

    def validate(self, ce_type: str, headers: Mapping[str, str] | None, payload: Any) -> None:
        """Raise ``AssertionError`` naming every way the record breaks its contract.

        ``headers`` (decoded to ``str``) are checked when given; ``None`` checks the payload only.
        """
        import jsonschema  # noqa: PLC0415 - a test dependency, not needed by services

        schema = self.messages.get(ce_type)
        if schema is None:
            raise AssertionError(f"no message with x-ce-type {ce_type!r} in the contract")
        problems: list[str] = []
        checks: list[tuple[str, dict[str, Any], Any]] = [("payload", schema.payload, payload)]
        if headers is not None:
            checks.append(("headers", schema.headers, dict(headers)))
        for part, json_schema, value in checks:
            validator = jsonschema.Draft202012Validator(
                json_schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
            problems.extend(
                f"{part}.{'.'.join(str(p) for p in error.absolute_path) or '$'}: {error.message}"
                for error in validator.iter_errors(value)
            )
        if problems:
            raise AssertionError(f"{ce_type} breaks its contract:\n  " + "\n  ".join(problems))
