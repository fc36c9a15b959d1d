"""Payments' permission matrix (the ``x-permission`` of contracts/openapi/payments.yaml).

Every member of the org reads its orders' payments; nobody changes them over HTTP (the saga
drives payments on Kafka).
"""

from __future__ import annotations

from shared.auth.principal import PermissionPolicy, Role

__all__ = ["POLICY"]

POLICY = PermissionPolicy(
    {"payments.read": (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER)},
)
