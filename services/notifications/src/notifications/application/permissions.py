"""Notifications' permission matrix (the ``x-permission`` of contracts/openapi/notifications.yaml).

Every member reads the org's endpoints and their delivery log; owners and admins register and
delete endpoints (an endpoint receives the org's order and payment data).
"""

from __future__ import annotations

from shared.auth.principal import PermissionPolicy, Role

__all__ = ["POLICY"]

POLICY = PermissionPolicy(
    {
        "webhooks.read": (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER),
        "webhooks.manage": (Role.OWNER, Role.ADMIN),
    }
)
