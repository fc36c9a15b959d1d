"""Who is calling, and what they may do: roles, the principal and per-service permission policies.

Framework-free on purpose: services' application layers import this module to authorize inside
their use cases (never only at the gateway). A :class:`PermissionPolicy` maps each permission a
service defines to the roles that hold it; ``docs/security.md`` is the matrix it must equal.

Tenancy rule (invariant 6): a principal acts inside exactly one org, the one its token names.
Asking for a resource of another org answers *not found*, never *permission denied*, so that a
caller cannot learn that the resource exists.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.errors import NotFoundError, PermissionDeniedError

__all__ = ["ROLES", "PermissionPolicy", "Principal", "Role", "ensure_same_org"]


class Role(enum.StrEnum):
    """A member's role in an org, most powerful first."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


ROLES: tuple[Role, ...] = tuple(Role)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user acting in one org with that org's roles.

    Attributes:
        user_id: the ``sub`` claim.
        org_id: the org every action of this request happens in.
        roles: the caller's roles in ``org_id``.
        token_id: the access token's ``jti`` (for audit logs; never an authorization input).
    """

    user_id: uuid.UUID
    org_id: uuid.UUID
    roles: frozenset[Role] = field(default_factory=frozenset)
    token_id: str = ""

    def has_any_role(self, roles: Iterable[Role]) -> bool:
        """Return True if the principal holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)


def ensure_same_org(
    principal: Principal,
    org_id: uuid.UUID,
    *,
    not_found: type[NotFoundError] = NotFoundError,
) -> None:
    """Raise ``not_found`` unless ``org_id`` is the principal's org (404, never 403)."""
    if principal.org_id != org_id:
        raise not_found()


class PermissionPolicy:
    """A service's permission matrix: which roles hold each permission.

    Unknown permissions are a programming error and fail closed with ``KeyError``.

    Args:
        grants: permission name (``"members.add"``) -> the roles holding it.
    """

    def __init__(self, grants: Mapping[str, Iterable[Role | str]]) -> None:
        self._grants: Mapping[str, frozenset[Role]] = MappingProxyType(
            {name: frozenset(Role(role) for role in roles) for name, roles in grants.items()}
        )

    @property
    def grants(self) -> Mapping[str, frozenset[Role]]:
        """The matrix, read-only: permission -> roles."""
        return self._grants

    def allows(self, principal: Principal, permission: str) -> bool:
        """Return True if one of the principal's roles holds ``permission``."""
        return principal.has_any_role(self._grants[permission])

    def require(
        self,
        principal: Principal,
        permission: str,
        *,
        org_id: uuid.UUID,
        not_found: type[NotFoundError] = NotFoundError,
    ) -> None:
        """Authorize ``principal`` to use ``permission`` on a resource of ``org_id``.

        Raises:
            NotFoundError: ``org_id`` is not the principal's org (checked first, so another
                org's resource looks absent whatever the caller's role).
            PermissionDeniedError: the principal's roles lack ``permission``.
        """
        ensure_same_org(principal, org_id, not_found=not_found)
        if not self.allows(principal, permission):
            raise PermissionDeniedError(details={"permission": permission})
