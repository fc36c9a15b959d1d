"""Shared loading of the contracts for the contract tests (pure: files only, no servers)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
OPENAPI_DIR = REPO / "contracts" / "openapi"
ASYNCAPI_DIR = REPO / "contracts" / "asyncapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@cache
def load(path: Path) -> dict[str, Any]:
    """Parse one YAML contract (cached: callers must not modify the result)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - a safe loader


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """Follow local ``#/...`` references until ``node`` is not one."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (path, method, operation) of an OpenAPI document, in document order."""
    return [
        (path, method, op)
        for path, item in doc.get("paths", {}).items()
        for method, op in item.items()
        if method in METHODS
    ]
