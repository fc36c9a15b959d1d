"""Permission policies (404 before 403), the Markdown matrix parser, and CSRF checks."""

from __future__ import annotations

import uuid

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.auth import PermissionPolicy, Principal, Role, parse_permission_matrix
from shared.errors import NotFoundError, PermissionDeniedError
from shared.http import install_problem_handlers
from shared.http.csrf import CSRF_COOKIE, CSRF_HEADER, CsrfProtection, new_csrf_token

POLICY = PermissionPolicy({"things.read": ["viewer", "owner"], "things.write": [Role.OWNER]})
ORG = uuid.uuid4()


def principal(role: Role, org: uuid.UUID = ORG) -> Principal:
    return Principal(user_id=uuid.uuid4(), org_id=org, roles=frozenset({role}))


def test_another_org_is_not_found_whatever_the_role() -> None:
    with pytest.raises(NotFoundError):
        POLICY.require(principal(Role.OWNER, uuid.uuid4()), "things.write", org_id=ORG)


def test_a_missing_role_is_permission_denied_and_unknown_permissions_fail_closed() -> None:
    POLICY.require(principal(Role.OWNER), "things.write", org_id=ORG)
    with pytest.raises(PermissionDeniedError):
        POLICY.require(principal(Role.VIEWER), "things.write", org_id=ORG)
    with pytest.raises(KeyError):
        POLICY.allows(principal(Role.OWNER), "things.delete")


def test_the_matrix_parser_reads_the_marked_table() -> None:
    text = """
intro
<!-- permission-matrix: svc -->
| permission | owner | admin | member | viewer |
|---|---|---|---|---|
| `a.read` | yes | ✓ | x | no |
| a.write | yes | no | no | no |

after
"""
    assert parse_permission_matrix(text, "svc") == {
        "a.read": {Role.OWNER, Role.ADMIN, Role.MEMBER},
        "a.write": {Role.OWNER},
    }
    with pytest.raises(LookupError):
        parse_permission_matrix(text, "other")


def csrf_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    csrf = CsrfProtection(allowed_origins=["https://app.ordo.test"], session_cookies=["sess"])

    @app.post("/change", dependencies=[Depends(csrf)])
    async def change() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=csrf_app())
    async with httpx.AsyncClient(transport=transport, base_url="https://api.ordo.test") as c:
        yield c


async def test_bearer_requests_without_cookies_need_no_csrf(client) -> None:
    assert (await client.post("/change")).status_code == 200


@pytest.mark.parametrize(
    ("origin", "header_matches"),
    [
        (None, True),
        ("https://evil.test", True),
        ("null", True),
        ("https://app.ordo.test", False),
    ],
)
async def test_cookie_requests_are_rejected_without_origin_and_token(
    client, origin: str | None, header_matches: bool
) -> None:
    token = new_csrf_token()
    headers = {CSRF_HEADER: token if header_matches else "other"}
    if origin:
        headers["Origin"] = origin
    client.cookies.set("sess", "x")
    client.cookies.set(CSRF_COOKIE, token)
    response = await client.post("/change", headers=headers)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "csrf.rejected"


async def test_cookie_requests_pass_with_origin_and_double_submit(client) -> None:
    token = new_csrf_token()
    client.cookies.set("sess", "x")
    client.cookies.set(CSRF_COOKIE, token)
    ok = await client.post(
        "/change", headers={"Origin": "https://app.ordo.test", CSRF_HEADER: token}
    )
    assert ok.status_code == 200
    via_referer = await client.post(
        "/change", headers={"Referer": "https://app.ordo.test/page", CSRF_HEADER: token}
    )
    assert via_referer.status_code == 200
