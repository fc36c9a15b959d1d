"""The OpenAPI document the gateway serves, built from the routes it actually has.

A path appears only if a route is mounted for it, and each operation shows the parameters and
request body of the :class:`RequestValidator` that route runs: the served document describes
what is enforced. Everything else (info, tags, components, webhooks, and each operation's
responses, security and descriptions) is the contract's text.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute

from gateway.adapters.openapi._contract import Contract
from gateway.adapters.openapi._request import RequestValidator

__all__ = ["find_validator", "served_document"]


def find_validator(dependant: Dependant) -> RequestValidator | None:
    """The contract validator among a route's dependencies, if it has one."""
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, RequestValidator):
            return dependency.call
        found = find_validator(dependency)
        if found is not None:
            return found
    return None


def served_document(contract: Contract, routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The public OpenAPI document for ``routes`` (paths in the contract's order)."""
    found: dict[str, dict[str, Any]] = {}
    # Included routers wrap their routes; the contexts are the routes as the app serves them.
    for context in iter_route_contexts(list(routes)):
        if not isinstance(context.original_route, APIRoute):
            continue
        dependant = context.dependant
        validator = find_validator(dependant) if isinstance(dependant, Dependant) else None
        if validator is None or context.path is None:
            continue
        for method in sorted(context.methods or ()):
            found.setdefault(context.path, {})[method.lower()] = _operation(validator)
    order = list(contract.document.get("paths", {}))
    paths = dict(sorted(found.items(), key=lambda kv: _position(order, kv[0])))
    # The contract's key order (openapi, info, tags, paths, webhooks, components, servers).
    document = {key: paths if key == "paths" else value for key, value in contract.document.items()}
    return copy.deepcopy(document)


def _operation(validator: RequestValidator) -> dict[str, Any]:
    rendered = {
        key: value
        for key, value in validator.operation.spec.items()
        if key not in ("parameters", "requestBody")
    }
    if validator.parameters:
        rendered["parameters"] = [dict(p.spec) for p in validator.parameters]
    if validator.body is not None:
        rendered["requestBody"] = dict(validator.body.spec)
    return rendered


def _position(order: list[str], path: str) -> int:
    return order.index(path) if path in order else len(order)
