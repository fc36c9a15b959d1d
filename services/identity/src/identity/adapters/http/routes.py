"""Identity's internal API routes: thin, validate -> use case -> map (contract: identity.yaml).

Every response of the auth routes carries ``Cache-Control: no-store`` (the chassis default, set
again here so a change of default never caches a token). ``operation_id``s equal the
contract's, which the permission-matrix tests join with ``docs/security.md``.

signUp and addMember require an Idempotency-Key (contracts/README.md): a replay answers with
``Idempotent-Replayed: true``, another body is 422 ``idempotency.key_reused``, a twin still in
flight is 409 ``idempotency.in_progress``. addMember replays its stored response; signUp's
replay is a fresh session for the same user and org (tokens are never stored; see SignUp).

(No ``from __future__ import annotations``: FastAPI must resolve the local ``Caller`` alias.)
"""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response, status
from fastapi.responses import JSONResponse

from identity.adapters.http.schemas import (
    AddMemberRequest,
    ChangeRoleRequest,
    LogInRequest,
    MemberListResponse,
    MemberResponse,
    MeResponse,
    OrgResponse,
    RefreshRequest,
    SignUpRequest,
    SwitchOrgRequest,
    TokenResponse,
)
from identity.application.facade import IdentityUseCases
from identity.application.ports import MemberView
from identity.application.use_cases.add_member import AddMemberInput
from identity.application.use_cases.log_in import LogInInput
from identity.application.use_cases.sign_up import SignUpInput
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal
from shared.http.idempotency import IdempotencyKey, idempotent_response
from shared.idempotency import IdempotentRequest, IdempotentResponse, request_fingerprint

__all__ = ["build_router"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
JWKS_CACHE = "public, max-age=60"


def _no_store(response: Response) -> None:
    response.headers.update(NO_STORE)


def build_router(use_cases: IdentityUseCases, auth: BearerAuth) -> APIRouter:
    """Return the router of identity's internal API."""
    router = APIRouter()
    Caller = Annotated[Principal, Depends(auth)]
    uc = use_cases

    @router.post(
        "/auth/signup",
        operation_id="signUp",
        status_code=status.HTTP_201_CREATED,
        response_model=TokenResponse,
        tags=["auth"],
    )
    async def sign_up(body: SignUpRequest, idempotency_key: IdempotencyKey) -> JSONResponse:
        form = SignUpInput(body.email, body.password, body.display_name, body.org_name)
        result = await uc.sign_up.once(form, idempotency_key)
        token = TokenResponse.of(result.session).model_dump(mode="json")
        return idempotent_response(
            IdempotentResponse(201, token), replayed=result.replayed, headers=NO_STORE
        )

    @router.post("/auth/login", operation_id="logIn", response_model=TokenResponse, tags=["auth"])
    async def log_in(body: LogInRequest, response: Response) -> TokenResponse:
        _no_store(response)
        return TokenResponse.of(await uc.log_in(LogInInput(body.email, body.password, body.org_id)))

    @router.post(
        "/auth/refresh", operation_id="refresh", response_model=TokenResponse, tags=["auth"]
    )
    async def refresh(body: RefreshRequest, response: Response) -> TokenResponse:
        _no_store(response)
        return TokenResponse.of(await uc.refresh_session(body.refresh_token))

    @router.post(
        "/auth/logout",
        operation_id="logOut",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["auth"],
    )
    async def log_out(body: RefreshRequest) -> Response:
        await uc.log_out(body.refresh_token)
        return Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)

    @router.post(
        "/auth/switch-org",
        operation_id="switchOrg",
        response_model=TokenResponse,
        tags=["auth"],
    )
    async def switch_org(
        body: SwitchOrgRequest, caller: Caller, response: Response
    ) -> TokenResponse:
        _no_store(response)
        session = await uc.switch_org(caller, body.org_id, body.refresh_token)
        return TokenResponse.of(session)

    @router.get("/me", operation_id="getMe", response_model=MeResponse, tags=["auth"])
    async def get_me(caller: Caller, response: Response) -> MeResponse:
        _no_store(response)
        return MeResponse.of(await uc.get_me(caller))

    @router.get("/.well-known/jwks.json", operation_id="getJwks", tags=["auth"])
    async def get_jwks(response: Response) -> dict[str, Any]:
        response.headers["Cache-Control"] = JWKS_CACHE
        return await uc.get_jwks()

    @router.get("/orgs/{org_id}", operation_id="getOrg", response_model=OrgResponse, tags=["orgs"])
    async def get_org(org_id: uuid.UUID, caller: Caller) -> OrgResponse:
        return OrgResponse.of(await uc.get_org(caller, org_id))

    @router.get(
        "/orgs/{org_id}/members",
        operation_id="listMembers",
        response_model=MemberListResponse,
        tags=["orgs"],
    )
    async def list_members(
        org_id: uuid.UUID,
        caller: Caller,
        *,
        cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> MemberListResponse:
        page = await uc.list_members(caller, org_id, cursor=cursor, limit=limit)
        return MemberListResponse(
            items=[MemberResponse.of(m) for m in page.items], next_cursor=page.next_cursor
        )

    @router.post(
        "/orgs/{org_id}/members",
        operation_id="addMember",
        status_code=status.HTTP_201_CREATED,
        response_model=MemberResponse,
        tags=["orgs"],
    )
    async def add_member(
        org_id: uuid.UUID, body: AddMemberRequest, caller: Caller, idempotency_key: IdempotencyKey
    ) -> JSONResponse:
        def render(member: MemberView) -> IdempotentResponse:
            return IdempotentResponse(201, MemberResponse.of(member).model_dump(mode="json"))

        path = f"/orgs/{org_id}/members"
        request = IdempotentRequest(
            key=idempotency_key,
            fingerprint=request_fingerprint("POST", path, body.model_dump(mode="json")),
            render=render,
        )
        form = AddMemberInput(body.email, body.role)
        answer = await uc.add_member.once(caller, org_id, form, request)
        return idempotent_response(answer.response, replayed=answer.replayed)

    @router.patch(
        "/orgs/{org_id}/members/{user_id}",
        operation_id="changeMemberRole",
        response_model=MemberResponse,
        tags=["orgs"],
    )
    async def change_member_role(
        org_id: uuid.UUID, user_id: uuid.UUID, body: ChangeRoleRequest, caller: Caller
    ) -> MemberResponse:
        member = await uc.change_member_role(caller, org_id, user_id, body.role)
        return MemberResponse.of(member)

    @router.delete(
        "/orgs/{org_id}/members/{user_id}",
        operation_id="removeMember",
        status_code=status.HTTP_204_NO_CONTENT,
        tags=["orgs"],
    )
    async def remove_member(org_id: uuid.UUID, user_id: uuid.UUID, caller: Caller) -> Response:
        await uc.remove_member(caller, org_id, user_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
