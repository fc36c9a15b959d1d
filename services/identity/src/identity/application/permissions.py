"""Identity's permission matrix; ``docs/security.md`` documents it and tests compare the two."""

from __future__ import annotations

from shared.auth.principal import PermissionPolicy, Role

__all__ = ["POLICY"]

_EVERYONE = (Role.OWNER, Role.ADMIN, Role.MEMBER, Role.VIEWER)
_MANAGERS = (Role.OWNER, Role.ADMIN)

POLICY = PermissionPolicy(
    {
        "org.read": _EVERYONE,
        "members.list": _EVERYONE,
        "members.add": _MANAGERS,
        "members.change_role": _MANAGERS,
        "members.remove": _MANAGERS,
    }
)
