"""Catalog's permission matrix (the ``x-permission`` of contracts/openapi/catalog.yaml).

Every member reads; members, admins and owners change products and stock.
"""

from __future__ import annotations

from shared.auth.principal import PermissionPolicy, Role

__all__ = ["POLICY"]

_EVERYONE = (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER)
_WRITERS = (Role.OWNER, Role.ADMIN, Role.MEMBER)

POLICY = PermissionPolicy(
    {
        "catalog.read": _EVERYONE,
        "catalog.write": _WRITERS,
        "stock.write": _WRITERS,
    }
)
