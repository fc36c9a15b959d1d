"""The use cases identity exposes, bundled for the entrypoints (built in ``bootstrap``)."""

from __future__ import annotations

from dataclasses import dataclass

from identity.application.use_cases.add_member import AddMember
from identity.application.use_cases.change_member_role import ChangeMemberRole
from identity.application.use_cases.get_jwks import GetJwks
from identity.application.use_cases.get_me import GetMe
from identity.application.use_cases.get_org import GetOrg
from identity.application.use_cases.list_members import ListMembers
from identity.application.use_cases.log_in import LogIn
from identity.application.use_cases.log_out import LogOut
from identity.application.use_cases.refresh_session import RefreshSession
from identity.application.use_cases.remove_member import RemoveMember
from identity.application.use_cases.rotate_signing_key import EnsureSigningKey, RotateSigningKey
from identity.application.use_cases.sign_up import SignUp
from identity.application.use_cases.switch_org import SwitchOrg

__all__ = ["IdentityUseCases"]


@dataclass(frozen=True, slots=True)
class IdentityUseCases:
    """Every use case of identity, wired once per process."""

    sign_up: SignUp
    log_in: LogIn
    refresh_session: RefreshSession
    log_out: LogOut
    switch_org: SwitchOrg
    get_me: GetMe
    get_org: GetOrg
    list_members: ListMembers
    add_member: AddMember
    change_member_role: ChangeMemberRole
    remove_member: RemoveMember
    get_jwks: GetJwks
    rotate_signing_key: RotateSigningKey
    ensure_signing_key: EnsureSigningKey
