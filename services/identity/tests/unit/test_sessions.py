"""Sign-up, log-in, refresh (rotation and reuse), log-out and switch-org, over fakes."""

from __future__ import annotations

import uuid

import pytest

from identity.application.use_cases.add_member import AddMemberInput
from identity.application.use_cases.log_in import LogInInput
from identity.application.use_cases.sign_up import SignUpInput
from identity.domain.errors import (
    EmailTakenError,
    InvalidCredentialsError,
    OrgNotFoundError,
    PasswordPolicyError,
    RefreshTokenInvalidError,
    RefreshTokenReusedError,
)
from identity.domain.events import MembershipChange, MembershipChanged, UserRegistered
from shared.auth import Role

PASSWORD = "correct horse battery staple"


def form(email: str = "ada@example.com", org: str = "Analytical") -> SignUpInput:
    return SignUpInput(email=email, password=PASSWORD, display_name="Ada", org_name=org)


async def test_sign_up_makes_the_caller_owner_of_a_new_org_and_emits_events(world) -> None:
    session = await world.use_cases.sign_up(form(" Ada@Example.com "))
    principal = await world.verify(session.access_token)
    assert principal.user_id == session.user_id
    assert principal.org_id == session.org_id
    assert principal.roles == {Role.OWNER}
    user = world.store.users[session.user_id]
    assert user.email == "ada@example.com"
    assert user.password_hash != PASSWORD
    registered, added = world.store.events
    assert registered == UserRegistered(
        org_id=session.org_id, occurred_at=world.clock.now(), user_id=session.user_id
    )
    assert isinstance(added, MembershipChanged)
    assert (added.change, added.role, added.changed_by) == (
        MembershipChange.ADDED,
        Role.OWNER,
        session.user_id,
    )


async def test_an_email_signs_up_once(world) -> None:
    await world.use_cases.sign_up(form())
    with pytest.raises(EmailTakenError):
        await world.use_cases.sign_up(form("ADA@example.com", "Other"))


async def test_short_passwords_are_refused(world) -> None:
    with pytest.raises(PasswordPolicyError):
        await world.use_cases.sign_up(SignUpInput("b@example.com", "short", "B", "Org"))


async def test_unknown_email_and_wrong_password_fail_alike(world) -> None:
    await world.use_cases.sign_up(form())
    with pytest.raises(InvalidCredentialsError) as unknown:
        await world.use_cases.log_in(LogInInput("nobody@example.com", PASSWORD))
    with pytest.raises(InvalidCredentialsError) as wrong:
        await world.use_cases.log_in(LogInInput("ada@example.com", PASSWORD + "!"))
    assert unknown.value.message == wrong.value.message


async def test_log_in_to_an_org_the_user_is_not_in_is_404(world) -> None:
    await world.use_cases.sign_up(form())
    with pytest.raises(OrgNotFoundError):
        await world.use_cases.log_in(LogInInput("ada@example.com", PASSWORD, uuid.uuid4()))


async def test_refresh_rotates_and_each_refresh_token_works_once(world) -> None:
    first = await world.use_cases.sign_up(form())
    second = await world.use_cases.refresh_session(first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert (await world.verify(second.access_token)).org_id == first.org_id
    third = await world.use_cases.refresh_session(second.refresh_token)
    assert third.refresh_token not in {first.refresh_token, second.refresh_token}


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(world) -> None:
    stolen = await world.use_cases.sign_up(form())
    legit = await world.use_cases.refresh_session(stolen.refresh_token)
    with pytest.raises(RefreshTokenReusedError):
        await world.use_cases.refresh_session(stolen.refresh_token)
    # The newest token of the family is dead too: both parties must sign in again.
    with pytest.raises(RefreshTokenReusedError):
        await world.use_cases.refresh_session(legit.refresh_token)
    assert all(t.revoked_at is not None for t in world.store.tokens.values())


async def test_reuse_revokes_only_that_family(world) -> None:
    one = await world.use_cases.sign_up(form())
    other = await world.use_cases.log_in(LogInInput("ada@example.com", PASSWORD))
    await world.use_cases.refresh_session(one.refresh_token)
    with pytest.raises(RefreshTokenReusedError):
        await world.use_cases.refresh_session(one.refresh_token)
    assert await world.use_cases.refresh_session(other.refresh_token)


async def test_unknown_refresh_token_is_invalid(world) -> None:
    with pytest.raises(RefreshTokenInvalidError):
        await world.use_cases.refresh_session("not-a-token-we-issued")


async def test_log_out_revokes_the_family_and_is_idempotent(world) -> None:
    session = await world.use_cases.sign_up(form())
    await world.use_cases.log_out(session.refresh_token)
    await world.use_cases.log_out(session.refresh_token)
    await world.use_cases.log_out("never-issued")
    with pytest.raises(RefreshTokenReusedError):
        await world.use_cases.refresh_session(session.refresh_token)


async def test_switch_org_to_an_org_of_the_caller(world) -> None:
    ada = await world.use_cases.sign_up(form())
    bob = await world.use_cases.sign_up(form("bob@example.com", "Bob's"))
    bob_principal = await world.verify(bob.access_token)
    await world.use_cases.add_member(
        bob_principal, bob.org_id, AddMemberInput("ada@example.com", Role.VIEWER)
    )
    ada_principal = await world.verify(ada.access_token)
    switched = await world.use_cases.switch_org(ada_principal, bob.org_id, ada.refresh_token)
    principal = await world.verify(switched.access_token)
    assert (principal.org_id, principal.roles) == (bob.org_id, {Role.VIEWER})
    with pytest.raises(RefreshTokenReusedError):  # the old session was retired
        await world.use_cases.refresh_session(ada.refresh_token)
    with pytest.raises(OrgNotFoundError):
        await world.use_cases.switch_org(ada_principal, uuid.uuid4())


async def test_me_lists_the_callers_orgs(world) -> None:
    session = await world.use_cases.sign_up(form())
    me = await world.use_cases.get_me(await world.verify(session.access_token))
    assert (me.email, me.role, [m.org_name for m in me.memberships]) == (
        "ada@example.com",
        Role.OWNER,
        ["Analytical"],
    )
