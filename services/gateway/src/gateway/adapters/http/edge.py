"""The /v1 routes of identity's public operations: authenticate, rate-limit, CSRF, proxy.

Every request is validated against the contract's operation (parameters and body) before it is
forwarded; identity validates again and decides authorization with its use cases. The gateway
verifies tokens too, to refuse bad ones early and to count per-user limits.

(No ``from __future__ import annotations``: FastAPI must resolve the local aliases.)
"""

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from gateway.adapters.http.proxy import entry_checks, mount, relay, upstream_request
from gateway.adapters.http.sessions import (
    AuthMode,
    clear_session_cookies,
    refresh_token_from,
    set_session_cookies,
)
from gateway.adapters.openapi import Contract, RequestValidator, ValidRequest
from gateway.adapters.upstream import UpstreamClient
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal
from shared.errors import UnauthenticatedError
from shared.http.csrf import CsrfProtection
from shared.http.ratelimit import RateLimitGuard

__all__ = ["EdgeGuards", "build_edge_router"]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
IDENTITY_OPERATIONS = (
    "signUp",
    "logIn",
    "refresh",
    "logOut",
    "switchOrg",
    "getMe",
    "getJwks",
    "getOrg",
    "listMembers",
    "addMember",
    "changeMemberRole",
    "removeMember",
)


@dataclass(frozen=True, slots=True)
class EdgeGuards:
    """The dependencies of the edge, built in ``bootstrap``.

    ``general`` holds the per-IP and per-user limits of every route; ``signup``, ``login`` and
    ``refresh`` hold those and their own, so every request spends one guard (one Redis round
    trip).
    """

    auth: BearerAuth
    csrf: CsrfProtection
    general: RateLimitGuard
    signup: RateLimitGuard
    login: RateLimitGuard
    refresh: RateLimitGuard
    cookie_max_age_s: int
    cookie_secure: bool


def _mode(valid: ValidRequest) -> AuthMode:
    return "cookie" if valid.values.get("Auth-Mode") == "cookie" else "bearer"


def build_edge_router(
    contract: Contract, identity: UpstreamClient, guards: EdgeGuards
) -> APIRouter:
    """Return the /v1 router for identity's public operations."""
    router = APIRouter()
    Caller = Annotated[Principal, Depends(guards.auth)]

    checks = {op: RequestValidator(contract.operation(op)) for op in IDENTITY_OPERATIONS}

    async def call(
        request: Request, operation_id: str, v: ValidRequest, body: Any = ...
    ) -> Response:
        operation = contract.operation(operation_id)
        upstream = await identity.send(upstream_request(request, operation, v, body=body))
        return relay(request, operation, upstream)

    def session_reply(reply: Response, mode: AuthMode) -> Response:
        if mode != "cookie" or reply.status_code >= 300:
            reply.headers.update(NO_STORE)
            return reply
        response = Response(status_code=reply.status_code, headers=NO_STORE)
        body = set_session_cookies(
            response,
            json.loads(bytes(reply.body)),
            max_age_s=guards.cookie_max_age_s,
            secure=guards.cookie_secure,
        )
        response.body = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.headers["Content-Length"] = str(len(response.body))
        return response

    async def sign_up(
        request: Request, v: Annotated[ValidRequest, Depends(checks["signUp"])]
    ) -> Response:
        if _mode(v) == "cookie":
            guards.csrf.check_origin(request)
        return session_reply(await call(request, "signUp", v), _mode(v))

    async def log_in(
        request: Request, v: Annotated[ValidRequest, Depends(checks["logIn"])]
    ) -> Response:
        if _mode(v) == "cookie":
            guards.csrf.check_origin(request)
        return session_reply(await call(request, "logIn", v), _mode(v))

    async def refresh(
        request: Request, v: Annotated[ValidRequest, Depends(checks["refresh"])]
    ) -> Response:
        token = refresh_token_from(request, v.body)
        if token is None:
            raise UnauthenticatedError("A refresh token is required.")
        reply = await call(request, "refresh", v, body={"refresh_token": token})
        return session_reply(reply, _mode(v))

    async def log_out(
        request: Request, v: Annotated[ValidRequest, Depends(checks["logOut"])]
    ) -> Response:
        token = refresh_token_from(request, v.body)
        if token is not None:
            await call(request, "logOut", v, body={"refresh_token": token})
        response = Response(status_code=204, headers=NO_STORE)
        if _mode(v) == "cookie":
            clear_session_cookies(response, secure=guards.cookie_secure)
        return response

    async def switch_org(
        request: Request, _caller: Caller, v: Annotated[ValidRequest, Depends(checks["switchOrg"])]
    ) -> Response:
        forwarded = dict(v.body or {})
        token = refresh_token_from(request, v.body)
        if token is not None:
            forwarded["refresh_token"] = token
        return session_reply(await call(request, "switchOrg", v, body=forwarded), _mode(v))

    async def get_me(
        request: Request, _caller: Caller, v: Annotated[ValidRequest, Depends(checks["getMe"])]
    ) -> Response:
        reply = await call(request, "getMe", v)
        reply.headers.update(NO_STORE)
        return reply

    async def get_jwks(
        request: Request, v: Annotated[ValidRequest, Depends(checks["getJwks"])]
    ) -> Response:
        reply = await call(request, "getJwks", v)
        reply.headers["Cache-Control"] = "public, max-age=60"
        return reply

    # Admission control, then the route's rate limits: one dependency (proxy.entry_checks).
    general = [entry_checks(identity, guards.general)]
    session = [entry_checks(identity, guards.refresh), Depends(guards.csrf)]
    for operation_id, endpoint, dependencies in (
        ("signUp", sign_up, [entry_checks(identity, guards.signup)]),
        ("logIn", log_in, [entry_checks(identity, guards.login)]),
        ("refresh", refresh, session),
        ("logOut", log_out, session),
        ("switchOrg", switch_org, session),
        ("getMe", get_me, general),
        ("getJwks", get_jwks, general),
    ):
        mount(router, contract.operation(operation_id), endpoint, dependencies=dependencies)
    _add_org_routes(router, contract, call, Caller, checks, general=general)
    return router


def _add_org_routes(
    router: APIRouter,
    contract: Contract,
    call: Callable[..., Awaitable[Response]],
    Caller: Any,
    checks: Mapping[str, RequestValidator],
    *,
    general: list[Any],
) -> None:
    """The org and member operations: authenticated, validated, authorized by identity."""

    async def get_org(
        request: Request, _caller: Caller, v: Annotated[ValidRequest, Depends(checks["getOrg"])]
    ) -> Response:
        return await call(request, "getOrg", v)

    async def list_members(
        request: Request,
        _caller: Caller,
        v: Annotated[ValidRequest, Depends(checks["listMembers"])],
    ) -> Response:
        return await call(request, "listMembers", v)

    async def add_member(
        request: Request, _caller: Caller, v: Annotated[ValidRequest, Depends(checks["addMember"])]
    ) -> Response:
        return await call(request, "addMember", v)

    async def change_member_role(
        request: Request,
        _caller: Caller,
        v: Annotated[ValidRequest, Depends(checks["changeMemberRole"])],
    ) -> Response:
        return await call(request, "changeMemberRole", v)

    async def remove_member(
        request: Request,
        _caller: Caller,
        v: Annotated[ValidRequest, Depends(checks["removeMember"])],
    ) -> Response:
        return await call(request, "removeMember", v)

    for operation_id, endpoint in (
        ("getOrg", get_org),
        ("listMembers", list_members),
        ("addMember", add_member),
        ("changeMemberRole", change_member_role),
        ("removeMember", remove_member),
    ):
        mount(router, contract.operation(operation_id), endpoint, dependencies=general)
