"""Request and response bodies of identity's internal API (mirrors the OpenAPI contract)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from identity.application.ports import MemberView
from identity.application.sessions import IssuedSession
from identity.application.use_cases.get_me import MeView
from identity.domain.model import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, Org
from shared.auth.principal import Role

__all__ = [
    "AddMemberRequest",
    "ChangeRoleRequest",
    "LogInRequest",
    "MeResponse",
    "MemberListResponse",
    "MemberResponse",
    "OrgResponse",
    "RefreshRequest",
    "SignUpRequest",
    "SwitchOrgRequest",
    "TokenResponse",
]

_Name = Field(min_length=1, max_length=200)
_RefreshToken = Field(min_length=16, max_length=256)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SignUpRequest(_Request):
    """Create a user and their org."""

    email: EmailStr = Field(max_length=320)
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    display_name: str = _Name
    org_name: str = _Name


class LogInRequest(_Request):
    """Credentials, and optionally the org to sign in to."""

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    org_id: uuid.UUID | None = None


class RefreshRequest(_Request):
    """A refresh token (refresh and log out)."""

    refresh_token: str = _RefreshToken


class SwitchOrgRequest(_Request):
    """The org to switch to, and the refresh token to retire."""

    org_id: uuid.UUID
    refresh_token: str | None = Field(default=None, min_length=16, max_length=256)


class AddMemberRequest(_Request):
    """The user to add (by email) and their role."""

    email: EmailStr = Field(max_length=320)
    role: Role


class ChangeRoleRequest(_Request):
    """The member's new role."""

    role: Role


class TokenResponse(BaseModel):
    """A session: access token, refresh token, and who it is for."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme, not a secret
    expires_in: int
    refresh_token: str
    user_id: uuid.UUID
    org_id: uuid.UUID
    role: Role

    @classmethod
    def of(cls, session: IssuedSession) -> TokenResponse:
        """Build from an issued session."""
        return cls(
            access_token=session.access_token,
            expires_in=session.expires_in,
            refresh_token=session.refresh_token,
            user_id=session.user_id,
            org_id=session.org_id,
            role=session.role,
        )


class OrgMembershipResponse(BaseModel):
    """One of the caller's orgs."""

    org_id: uuid.UUID
    org_name: str
    role: Role


class MeResponse(BaseModel):
    """The caller."""

    user_id: uuid.UUID
    email: str
    display_name: str
    org_id: uuid.UUID
    role: Role | None
    memberships: list[OrgMembershipResponse]

    @classmethod
    def of(cls, me: MeView) -> MeResponse:
        """Build from the use case's view."""
        return cls(
            user_id=me.user_id,
            email=me.email,
            display_name=me.display_name,
            org_id=me.org_id,
            role=me.role,
            memberships=[
                OrgMembershipResponse(org_id=m.org_id, org_name=m.org_name, role=m.role)
                for m in me.memberships
            ],
        )


class OrgResponse(BaseModel):
    """An org."""

    id: uuid.UUID
    name: str
    created_at: datetime

    @classmethod
    def of(cls, org: Org) -> OrgResponse:
        """Build from the domain object."""
        return cls(id=org.id, name=org.name, created_at=org.created_at)


class MemberResponse(BaseModel):
    """A member of an org."""

    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    joined_at: datetime

    @classmethod
    def of(cls, member: MemberView) -> MemberResponse:
        """Build from the read model."""
        return cls(
            user_id=member.user_id,
            email=member.email,
            display_name=member.display_name,
            role=member.role,
            joined_at=member.joined_at,
        )


class MemberListResponse(BaseModel):
    """The members of an org, a page of them."""

    items: list[MemberResponse]
    next_cursor: str | None
