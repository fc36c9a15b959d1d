"""Orders' permission matrix (the ``x-permission`` of contracts/openapi/orders.yaml).

Every member of an org reads its orders; owners, admins and members place and cancel them.
"""

from __future__ import annotations

from shared.auth.principal import PermissionPolicy, Role

__all__ = ["POLICY"]

_EVERYONE = (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER)
_BUYERS = (Role.OWNER, Role.ADMIN, Role.MEMBER)

POLICY = PermissionPolicy(
    {
        "orders.place": _BUYERS,
        "orders.read": _EVERYONE,
        "orders.cancel": _BUYERS,
    }
)
