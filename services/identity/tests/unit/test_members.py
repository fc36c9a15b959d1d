"""Member management rules: roles, owners, the last owner, tenancy and the refresh cut-off."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from identity.application.permissions import POLICY
from identity.application.use_cases.add_member import AddMemberInput
from identity.application.use_cases.sign_up import SignUpInput
from identity.domain.errors import (
    LastOwnerError,
    MemberNotFoundError,
    OrgNotFoundError,
    OwnerRoleRequiredError,
    RefreshTokenInvalidError,
    UserNotFoundError,
)
from identity.domain.events import MembershipChange, MembershipChanged
from shared.auth import Principal, Role, parse_permission_matrix
from shared.errors import PermissionDeniedError, ValidationError


@dataclass
class Member:
    principal: Principal
    refresh_token: str
    user_id: uuid.UUID


async def sign_up(world, name: str) -> Member:
    session = await world.use_cases.sign_up(
        SignUpInput(f"{name}@example.com", "a long enough password", name, f"{name} org")
    )
    return Member(await world.verify(session.access_token), session.refresh_token, session.user_id)


async def join(world, owner: Member, name: str, role: Role) -> Member:
    """Sign ``name`` up, add them to ``owner``'s org with ``role``, switch them into it."""
    person = await sign_up(world, name)
    await world.use_cases.add_member(
        owner.principal, owner.principal.org_id, AddMemberInput(f"{name}@example.com", role)
    )
    session = await world.use_cases.switch_org(person.principal, owner.principal.org_id)
    return Member(await world.verify(session.access_token), session.refresh_token, person.user_id)


async def test_admins_manage_but_cannot_touch_owners(world) -> None:
    owner = await sign_up(world, "olive")
    admin = await join(world, owner, "adam", Role.ADMIN)
    org = owner.principal.org_id
    with pytest.raises(OwnerRoleRequiredError):
        await world.use_cases.change_member_role(admin.principal, org, owner.user_id, Role.MEMBER)
    with pytest.raises(OwnerRoleRequiredError):
        await world.use_cases.remove_member(admin.principal, org, owner.user_id)
    member = await join(world, owner, "mia", Role.MEMBER)
    with pytest.raises(OwnerRoleRequiredError):
        await world.use_cases.change_member_role(admin.principal, org, member.user_id, Role.OWNER)
    view = await world.use_cases.change_member_role(
        admin.principal, org, member.user_id, Role.VIEWER
    )
    assert view.role == Role.VIEWER


async def test_the_last_owner_stays(world) -> None:
    owner = await sign_up(world, "olive")
    org = owner.principal.org_id
    with pytest.raises(LastOwnerError):
        await world.use_cases.change_member_role(owner.principal, org, owner.user_id, Role.ADMIN)
    with pytest.raises(LastOwnerError):
        await world.use_cases.remove_member(owner.principal, org, owner.user_id)
    second = await join(world, owner, "otto", Role.OWNER)
    await world.use_cases.change_member_role(second.principal, org, owner.user_id, Role.ADMIN)


async def test_member_changes_are_events(world) -> None:
    owner = await sign_up(world, "olive")
    member = await join(world, owner, "mia", Role.MEMBER)
    org = owner.principal.org_id
    await world.use_cases.change_member_role(owner.principal, org, member.user_id, Role.ADMIN)
    await world.use_cases.remove_member(owner.principal, org, member.user_id)
    changes = [
        (e.change, e.role, e.previous_role)
        for e in world.store.events
        if isinstance(e, MembershipChanged) and e.user_id == member.user_id and e.org_id == org
    ]
    assert changes == [
        (MembershipChange.ADDED, Role.MEMBER, None),
        (MembershipChange.ROLE_CHANGED, Role.ADMIN, Role.MEMBER),
        (MembershipChange.REMOVED, None, Role.ADMIN),
    ]


async def test_a_removed_member_loses_the_session_and_access_at_once(world) -> None:
    owner = await sign_up(world, "olive")
    member = await join(world, owner, "mia", Role.MEMBER)
    org = owner.principal.org_id
    await world.use_cases.remove_member(owner.principal, org, member.user_id)
    with pytest.raises(OrgNotFoundError):  # token still unexpired, database says no
        await world.use_cases.list_members(member.principal, org)
    with pytest.raises(RefreshTokenInvalidError):
        await world.use_cases.refresh_session(member.refresh_token)


async def test_a_demoted_admin_loses_admin_rights_before_the_token_expires(world) -> None:
    owner = await sign_up(world, "olive")
    admin = await join(world, owner, "adam", Role.ADMIN)
    org = owner.principal.org_id
    await world.use_cases.change_member_role(owner.principal, org, admin.user_id, Role.VIEWER)
    with pytest.raises(PermissionDeniedError):
        await world.use_cases.add_member(
            admin.principal, org, AddMemberInput("olive@example.com", Role.VIEWER)
        )


async def test_another_orgs_resources_are_not_found_even_for_an_owner(world) -> None:
    olive = await sign_up(world, "olive")
    eve = await sign_up(world, "eve")
    other = olive.principal.org_id
    with pytest.raises(OrgNotFoundError):
        await world.use_cases.get_org(eve.principal, other)
    with pytest.raises(OrgNotFoundError):
        await world.use_cases.remove_member(eve.principal, other, olive.user_id)
    with pytest.raises(MemberNotFoundError):  # olive is not in eve's org
        await world.use_cases.remove_member(eve.principal, eve.principal.org_id, olive.user_id)


async def test_adding_an_unknown_email_is_user_not_found(world) -> None:
    owner = await sign_up(world, "olive")
    with pytest.raises(UserNotFoundError):
        await world.use_cases.add_member(
            owner.principal, owner.principal.org_id, AddMemberInput("x@example.com", Role.MEMBER)
        )


def test_the_policy_equals_the_documented_matrix(repo_root) -> None:
    documented = parse_permission_matrix((repo_root / "docs/security.md").read_text(), "identity")
    assert documented == dict(POLICY.grants)


async def test_members_are_listed_a_page_at_a_time_by_user_id(world) -> None:
    owner = await sign_up(world, "olive")
    org = owner.principal.org_id
    joined = [await join(world, owner, name, Role.MEMBER) for name in ("mia", "max", "mo")]
    expected = sorted([owner.user_id, *(m.user_id for m in joined)])
    first = await world.use_cases.list_members(owner.principal, org, limit=3)
    assert [m.user_id for m in first.items] == expected[:3]
    assert first.next_cursor is not None
    last = await world.use_cases.list_members(owner.principal, org, cursor=first.next_cursor)
    assert [m.user_id for m in last.items] == expected[3:]
    assert last.next_cursor is None


async def test_a_members_cursor_of_another_org_or_a_bad_limit_is_rejected(world) -> None:
    owner = await sign_up(world, "olive")
    await join(world, owner, "mia", Role.MEMBER)
    other = await sign_up(world, "otto")
    await join(world, other, "oona", Role.MEMBER)
    page = await world.use_cases.list_members(owner.principal, owner.principal.org_id, limit=1)
    assert page.next_cursor is not None
    with pytest.raises(ValidationError):
        await world.use_cases.list_members(
            other.principal, other.principal.org_id, cursor=page.next_cursor
        )
    for limit in (0, 101):
        with pytest.raises(ValidationError):
            await world.use_cases.list_members(owner.principal, owner.principal.org_id, limit=limit)
