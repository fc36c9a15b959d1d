"""JSON Schemas out of the contracts, with ``$ref``s inlined (local and to sibling files)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

CONTRACTS = Path(__file__).resolve().parents[4] / "contracts"


@cache
def _document(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def resolve(node: Any, document: dict[str, Any], base: Path) -> Any:
    """Inline every ``$ref`` of ``node`` (found in ``document`` at ``base``)."""
    if isinstance(node, dict):
        if "$ref" in node:
            file, _, pointer = node["$ref"].partition("#")
            if file:
                base = (base.parent / file).resolve()
                document = _document(base)
            target: Any = document
            for part in pointer.strip("/").split("/"):
                target = target[part]
            return resolve(target, document, base)
        return {k: resolve(v, document, base) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, document, base) for v in node]
    return node


def schema(relative: str, *pointer: str) -> Any:
    """The resolved schema at ``pointer`` of ``contracts/<relative>``."""
    path = (CONTRACTS / relative).resolve()
    node: Any = _document(path)
    for part in pointer:
        node = node[part]
    return resolve(node, _document(path), path)


def message_payloads(relative: str) -> dict[str, Any]:
    """``{ce_type: payload schema}`` of the AsyncAPI document's messages."""
    path = (CONTRACTS / relative).resolve()
    document = _document(path)
    return {
        message["x-ce-type"]: resolve(message["payload"], document, path)
        for message in document["components"]["messages"].values()
    }
