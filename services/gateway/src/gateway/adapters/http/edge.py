"""The /v1 routes of identity's public operations: authenticate, rate-limit, CSRF, proxy.

Path parameters are parsed as UUIDs before anything is forwarded; bodies are forwarded as
JSON and validated by identity (whose 422 problems pass through). Authorization is decided by
identity's use cases; the gateway verifies tokens too, to refuse bad ones early and to count
per-user limits.
"""

import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request, Response

from gateway.adapters.http.sessions import (
    AuthMode,
    clear_session_cookies,
    refresh_token_from,
    set_session_cookies,
)
from gateway.adapters.identity import IdentityClient, Upstream
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal
from shared.errors import UnauthenticatedError
from shared.http.csrf import CsrfProtection
from shared.http.ratelimit import RateLimitGuard

__all__ = ["EdgeGuards", "build_edge_router"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
Mode = Annotated[AuthMode, Header(alias="Auth-Mode")]
JsonBody = Annotated[dict[str, Any] | None, Body()]


@dataclass(frozen=True, slots=True)
class EdgeGuards:
    """The dependencies of the edge, built in ``bootstrap``."""

    auth: BearerAuth
    csrf: CsrfProtection
    general: RateLimitGuard
    signup: RateLimitGuard
    login: RateLimitGuard
    refresh: RateLimitGuard
    cookie_max_age_s: int
    cookie_secure: bool


def _reply(upstream: Upstream, *, no_store: bool = False) -> Response:
    headers = dict(upstream.headers)
    if no_store:
        headers.update(NO_STORE)
    return Response(
        content=upstream.content,
        status_code=upstream.status,
        media_type=upstream.media_type,
        headers=headers,
    )


def build_edge_router(identity: IdentityClient, guards: EdgeGuards) -> APIRouter:
    """Return the /v1 router for identity's public operations."""
    router = APIRouter(prefix="/v1", dependencies=[Depends(guards.general)])
    Caller = Annotated[Principal, Depends(guards.auth)]

    async def session_reply(upstream: Upstream, mode: AuthMode) -> Response:
        if mode != "cookie" or upstream.status >= 300:
            return _reply(upstream, no_store=True)
        response = Response(status_code=upstream.status, headers=NO_STORE)
        body = set_session_cookies(
            response,
            upstream.json(),
            max_age_s=guards.cookie_max_age_s,
            secure=guards.cookie_secure,
        )
        response.body = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.headers["Content-Length"] = str(len(response.body))
        return response

    @router.post(
        "/auth/signup", operation_id="signUp", dependencies=[Depends(guards.signup)], tags=["auth"]
    )
    async def sign_up(request: Request, body: JsonBody = None, mode: Mode = "bearer") -> Response:
        if mode == "cookie":
            guards.csrf.check_origin(request)
        upstream = await identity.call("POST", "/auth/signup", headers=request.headers, json=body)
        return await session_reply(upstream, mode)

    @router.post(
        "/auth/login", operation_id="logIn", dependencies=[Depends(guards.login)], tags=["auth"]
    )
    async def log_in(request: Request, body: JsonBody = None, mode: Mode = "bearer") -> Response:
        if mode == "cookie":
            guards.csrf.check_origin(request)
        upstream = await identity.call("POST", "/auth/login", headers=request.headers, json=body)
        return await session_reply(upstream, mode)

    @router.post(
        "/auth/refresh",
        operation_id="refresh",
        dependencies=[Depends(guards.refresh), Depends(guards.csrf)],
        tags=["auth"],
    )
    async def refresh(request: Request, body: JsonBody = None, mode: Mode = "bearer") -> Response:
        token = refresh_token_from(request, body)
        if token is None:
            raise UnauthenticatedError("A refresh token is required.")
        upstream = await identity.call(
            "POST", "/auth/refresh", headers=request.headers, json={"refresh_token": token}
        )
        return await session_reply(upstream, mode)

    @router.post(
        "/auth/logout",
        operation_id="logOut",
        status_code=204,
        dependencies=[Depends(guards.refresh), Depends(guards.csrf)],
        tags=["auth"],
    )
    async def log_out(request: Request, body: JsonBody = None, mode: Mode = "bearer") -> Response:
        token = refresh_token_from(request, body)
        if token is not None:
            await identity.call(
                "POST", "/auth/logout", headers=request.headers, json={"refresh_token": token}
            )
        response = Response(status_code=204, headers=NO_STORE)
        if mode == "cookie":
            clear_session_cookies(response, secure=guards.cookie_secure)
        return response

    @router.post(
        "/auth/switch-org",
        operation_id="switchOrg",
        dependencies=[Depends(guards.refresh), Depends(guards.csrf)],
        tags=["auth"],
    )
    async def switch_org(
        request: Request, _caller: Caller, body: JsonBody = None, mode: Mode = "bearer"
    ) -> Response:
        forwarded = dict(body or {})
        token = refresh_token_from(request, body)
        if token is not None:
            forwarded["refresh_token"] = token
        upstream = await identity.call(
            "POST", "/auth/switch-org", headers=request.headers, json=forwarded
        )
        return await session_reply(upstream, mode)

    @router.get("/me", operation_id="getMe", tags=["auth"])
    async def get_me(request: Request, _caller: Caller) -> Response:
        return _reply(await identity.call("GET", "/me", headers=request.headers), no_store=True)

    @router.get("/.well-known/jwks.json", operation_id="getJwks", tags=["auth"])
    async def get_jwks(request: Request) -> Response:
        response = _reply(await identity.call("GET", "/.well-known/jwks.json", headers={}))
        response.headers["Cache-Control"] = "public, max-age=60"
        return response

    _add_org_routes(router, identity, Caller)
    return router


def _add_org_routes(router: APIRouter, identity: IdentityClient, Caller: Any) -> None:
    """The org and member operations: authenticated, proxied, authorized by identity."""

    @router.get("/orgs/{org_id}", operation_id="getOrg", tags=["orgs"])
    async def get_org(request: Request, org_id: uuid.UUID, _caller: Caller) -> Response:
        return _reply(await identity.call("GET", f"/orgs/{org_id}", headers=request.headers))

    @router.get("/orgs/{org_id}/members", operation_id="listMembers", tags=["orgs"])
    async def list_members(request: Request, org_id: uuid.UUID, _caller: Caller) -> Response:
        path = f"/orgs/{org_id}/members"
        return _reply(await identity.call("GET", path, headers=request.headers))

    @router.post("/orgs/{org_id}/members", operation_id="addMember", status_code=201, tags=["orgs"])
    async def add_member(
        request: Request, org_id: uuid.UUID, _caller: Caller, body: JsonBody = None
    ) -> Response:
        path = f"/orgs/{org_id}/members"
        return _reply(await identity.call("POST", path, headers=request.headers, json=body))

    @router.patch(
        "/orgs/{org_id}/members/{user_id}", operation_id="changeMemberRole", tags=["orgs"]
    )
    async def change_member_role(
        request: Request,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        _caller: Caller,
        body: JsonBody = None,
    ) -> Response:
        path = f"/orgs/{org_id}/members/{user_id}"
        return _reply(await identity.call("PATCH", path, headers=request.headers, json=body))

    @router.delete(
        "/orgs/{org_id}/members/{user_id}",
        operation_id="removeMember",
        status_code=204,
        tags=["orgs"],
    )
    async def remove_member(
        request: Request, org_id: uuid.UUID, user_id: uuid.UUID, _caller: Caller
    ) -> Response:
        path = f"/orgs/{org_id}/members/{user_id}"
        return _reply(await identity.call("DELETE", path, headers=request.headers))
