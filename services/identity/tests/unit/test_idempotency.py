"""Idempotency-Keys of signUp and addMember: a retry creates nothing twice, tokens are never
stored, another body (or password) is 422, keys are scoped (per email, per org)."""

from __future__ import annotations

import json

import pytest

from identity.application.ports import MemberView
from identity.application.use_cases.add_member import AddMemberInput
from identity.application.use_cases.sign_up import SignUpInput
from identity.domain.errors import EmailTakenError
from shared.auth import Role
from shared.idempotency import IdempotencyKeyReusedError, IdempotentRequest, IdempotentResponse

PASSWORD = "a long enough password"


def form(name: str, password: str = PASSWORD, org: str | None = None) -> SignUpInput:
    return SignUpInput(f"{name}@example.com", password, name, org or f"{name} org")


def member_request(key: str, fingerprint: str) -> IdempotentRequest[MemberView]:
    def render(member: MemberView) -> IdempotentResponse:
        return IdempotentResponse(201, {"user_id": str(member.user_id), "role": member.role.value})

    return IdempotentRequest(key=key, fingerprint=fingerprint, render=render)


async def test_a_retried_sign_up_creates_one_user_and_answers_a_fresh_session(world) -> None:
    first = await world.use_cases.sign_up.once(form("olive"), "key-1")
    retry = SignUpInput("OLIVE@example.com", PASSWORD, "olive", "olive org")  # email normalised
    again = await world.use_cases.sign_up.once(retry, "key-1")
    assert (first.replayed, again.replayed) == (False, True)
    assert (again.session.user_id, again.session.org_id) == (
        first.session.user_id,
        first.session.org_id,
    )
    assert again.session.refresh_token != first.session.refresh_token
    assert len(world.store.users) == 1
    assert len(world.store.orgs) == 1
    (principal_id,) = world.store.users
    assert (await world.verify(again.session.access_token)).user_id == principal_id
    stored = json.dumps([r.body for _, r in world.store.idempotency.values() if r is not None])
    assert first.session.refresh_token not in stored
    assert first.session.access_token not in stored
    assert PASSWORD not in json.dumps(list(world.store.idempotency.values()), default=str)


async def test_a_sign_up_key_replayed_with_another_password_or_body_is_rejected(world) -> None:
    await world.use_cases.sign_up.once(form("olive"), "key-1")
    with pytest.raises(IdempotencyKeyReusedError):  # the password is not the user's
        await world.use_cases.sign_up.once(form("olive", password="another long password"), "key-1")
    with pytest.raises(IdempotencyKeyReusedError):
        await world.use_cases.sign_up.once(form("olive", org="other org"), "key-1")
    with pytest.raises(EmailTakenError):  # a new key for the same email is a new sign-up
        await world.use_cases.sign_up.once(form("olive"), "key-2")
    assert len(world.store.users) == 1


async def test_sign_up_keys_are_scoped_by_email(world) -> None:
    a = await world.use_cases.sign_up.once(form("olive"), "same-key")
    b = await world.use_cases.sign_up.once(form("otto"), "same-key")
    assert not a.replayed
    assert not b.replayed
    assert a.session.user_id != b.session.user_id


async def test_a_failed_sign_up_leaves_no_key_behind(world) -> None:
    await world.use_cases.sign_up(form("olive"))
    with pytest.raises(EmailTakenError):
        await world.use_cases.sign_up.once(form("olive"), "key-1")
    assert world.store.idempotency == {}


async def test_a_retried_add_member_adds_once_and_replays_the_stored_response(world) -> None:
    owner = await world.use_cases.sign_up(form("olive"))
    principal = await world.verify(owner.access_token)
    await world.use_cases.sign_up(form("mia"))
    add = AddMemberInput("mia@example.com", Role.MEMBER)
    first = await world.use_cases.add_member.once(
        principal, owner.org_id, add, member_request("k", "fp-1")
    )
    events = len(world.store.events)
    again = await world.use_cases.add_member.once(
        principal, owner.org_id, add, member_request("k", "fp-1")
    )
    assert (first.replayed, again.replayed) == (False, True)
    assert again.response == first.response
    assert len(world.store.events) == events  # no second membership.changed
    with pytest.raises(IdempotencyKeyReusedError):
        await world.use_cases.add_member.once(
            principal, owner.org_id, add, member_request("k", "fp-2")
        )
