"""Notifications' internal API on the real database: the contract's shapes, idempotency,
validation, tenancy, the delivery log and its pagination."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications.adapters.persistence.tables import idempotency_keys
from notifications.application.facade import NotificationsUseCases
from notifications.application.ports import SendResult, WebhookRequest
from notifications.application.rules import DeliveryRules, EndpointRules
from notifications.bootstrap import (
    AuthSettings,
    WebhookSettings,
    bootstrap,
    build_app,
    unit_of_work_factory,
)
from notifications.domain.retry import RetrySchedule
from notifications.domain.values import AttemptError
from shared.auth import parse_permission_matrix
from shared.db.idempotency import SqlaIdempotencyRecords
from shared.idempotency import request_fingerprint
from shared.settings import DatabaseSettings
from shared.testing.asyncapi import resolved_schema
from shared.testing.tokens import TokenIssuer

from .conftest import REPO, schedule_placed, settings_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("quiet_deliveries")]

ISS, AUD, KID = "https://identity.test", "ordo-test", "test-key"
CONTRACT = REPO / "contracts" / "openapi" / "notifications.yaml"


def contract_schema(name: str) -> Any:
    return resolved_schema(CONTRACT, "components", "schemas", name)


class Tokens(TokenIssuer):
    """Signs access tokens the way identity does, for one test key."""

    def __init__(self) -> None:
        super().__init__(issuer=ISS, audience=AUD, kid=KID)

    def headers(
        self, org_id: uuid.UUID, role: str = "admin", key: str | None = None
    ) -> dict[str, str]:
        """Authorization and an Idempotency-Key (``key``, else a fresh one)."""
        return self.bearer(org_id, role) | {"Idempotency-Key": key or str(uuid.uuid4())}


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    """A signing key of this module and its verifier's key source."""
    return Tokens()


@pytest.fixture(scope="module")
async def api(migrated: DatabaseSettings, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of notifications' app (lifespan run; at most 3 endpoints per org)."""
    settings = settings_for(
        migrated,
        auth=AuthSettings(issuer=ISS, audience=AUD),
        webhooks=WebhookSettings(max_endpoints_per_org=3, allow_loopback_http=True),
    )
    app = build_app(settings, keys=tokens.keys)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://notifications"
        ) as client:
            yield client


ENDPOINT = {
    "url": "https://hooks.example.com/ordo",
    "event_types": ["order.placed", "payment.failed"],
}


async def test_register_read_list_and_delete_an_endpoint(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    created = await api.post(
        "/webhook-endpoints", json=ENDPOINT | {"description": "ERP"}, headers=tokens.headers(org_id)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    jsonschema.validate(body, contract_schema("WebhookEndpointWithSecret"))
    assert created.headers["Location"] == f"/webhook-endpoints/{body['id']}"
    assert "Idempotent-Replayed" not in created.headers
    assert (body["enabled"], body["description"]) == (True, "ERP")

    viewer = tokens.headers(org_id, "viewer")
    read = await api.get(f"/webhook-endpoints/{body['id']}", headers=viewer)
    assert read.status_code == 200
    jsonschema.validate(read.json(), contract_schema("WebhookEndpoint"))
    assert "secret" not in read.json()
    assert read.json() == {k: v for k, v in body.items() if k != "secret"}

    listed = await api.get("/webhook-endpoints", headers=viewer)
    jsonschema.validate(listed.json(), contract_schema("WebhookEndpointPage"))
    assert [e["id"] for e in listed.json()["items"]] == [body["id"]]
    assert body["secret"] not in listed.text

    deleted = await api.delete(f"/webhook-endpoints/{body['id']}", headers=tokens.headers(org_id))
    assert (deleted.status_code, deleted.content) == (204, b"")
    again = await api.delete(f"/webhook-endpoints/{body['id']}", headers=tokens.headers(org_id))
    assert (again.status_code, again.json()["code"]) == (404, "webhook_endpoint.not_found")
    gone = await api.get(f"/webhook-endpoints/{body['id']}", headers=viewer)
    assert gone.status_code == 404
    assert (await api.get("/webhook-endpoints", headers=viewer)).json()["items"] == []


async def test_the_same_key_replays_the_created_response(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    headers = tokens.headers(org_id, key="create-once")
    first = await api.post("/webhook-endpoints", json=ENDPOINT, headers=headers)
    replay = await api.post(
        "/webhook-endpoints",
        json={"event_types": ENDPOINT["event_types"], "url": ENDPOINT["url"]},  # key order differs
        headers=tokens.headers(org_id, key="create-once"),
    )
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.json() == first.json()  # the secret included: the same response
    listed = await api.get("/webhook-endpoints", headers=headers)
    assert len(listed.json()["items"]) == 1

    reused = await api.post(
        "/webhook-endpoints",
        json=ENDPOINT | {"description": "another body"},
        headers=tokens.headers(org_id, key="create-once"),
    )
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency.key_reused")
    stranger = uuid.uuid4()  # keys are scoped per org
    theirs = await api.post(
        "/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(stranger, key="create-once")
    )
    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers


async def test_a_key_in_flight_is_409(
    api: httpx.AsyncClient,
    tokens: Tokens,
    sessions: async_sessionmaker[AsyncSession],
    org_id: uuid.UUID,
) -> None:
    scope = f"{org_id}:create_webhook_endpoint"
    fingerprint = request_fingerprint(
        "POST", "/webhook-endpoints", ENDPOINT | {"description": None, "secret": None}
    )
    async with sessions() as session, session.begin():
        # Another request with the key holds it, uncommitted: the twin learns it at once.
        records = SqlaIdempotencyRecords(session, idempotency_keys)
        assert await records.claim(scope=scope, key="busy", fingerprint=fingerprint) is None
        twin = await api.post(
            "/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id, key="busy")
        )
        assert (twin.status_code, twin.json()["code"]) == (409, "idempotency.in_progress")
        await session.rollback()
    retried = await api.post(
        "/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id, key="busy")
    )
    assert retried.status_code == 201  # the first request failed: the key is free again


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (ENDPOINT | {"url": "http://hooks.example.com/"}, "body.url"),
        (ENDPOINT | {"url": "https://user:pw@hooks.example.com/"}, "body.url"),
        (ENDPOINT | {"url": "https://169.254.169.254/latest"}, "body.url"),
        (ENDPOINT | {"url": "https://hooks.example.com/" + "x" * 2048}, "body.url"),
        (ENDPOINT | {"event_types": []}, "body.event_types"),
        (ENDPOINT | {"event_types": ["order.shipped"]}, "body.event_types.0"),
        (ENDPOINT | {"event_types": ["order.placed", "order.placed"]}, "body.event_types"),
        (ENDPOINT | {"secret": "whsec_tooshort"}, "body.secret"),
        (ENDPOINT | {"secret": "whsec_" + "QUFB" * 30}, "body.secret"),  # 90 bytes
        (ENDPOINT | {"enabled": False}, "body.enabled"),
        ({"url": ENDPOINT["url"]}, "body.event_types"),
    ],
)
async def test_bad_input_is_a_422_that_changes_nothing(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, body: dict[str, Any], path: str
) -> None:
    response = await api.post("/webhook-endpoints", json=body, headers=tokens.headers(org_id))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == "validation.failed"
    assert path in [e["path"] for e in problem["errors"]]
    if "secret" in body:
        assert body["secret"] not in response.text  # a secret is never echoed
    listed = await api.get("/webhook-endpoints", headers=tokens.headers(org_id))
    assert listed.json()["items"] == []


async def test_missing_key_credentials_and_roles(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    no_key = tokens.headers(org_id)
    del no_key["Idempotency-Key"]
    assert (await api.post("/webhook-endpoints", json=ENDPOINT, headers=no_key)).status_code == 422
    bad_key = tokens.headers(org_id, key="has space")
    assert (await api.post("/webhook-endpoints", json=ENDPOINT, headers=bad_key)).status_code == 422
    anonymous = await api.get("/webhook-endpoints")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "auth.unauthenticated")
    member = await api.post(
        "/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id, "member")
    )
    assert (member.status_code, member.json()["code"]) == (403, "auth.permission_denied")


async def test_an_org_may_register_a_limited_number_of_endpoints(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    for _ in range(3):
        response = await api.post(
            "/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id)
        )
        assert response.status_code == 201
    over = await api.post("/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id))
    assert (over.status_code, over.json()["code"]) == (409, "webhook_endpoint.limit_reached")


async def test_endpoint_pages_and_filters(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    ids = []
    for types in (["order.placed"], ["payment.failed"], ["order.placed", "order.cancelled"]):
        created = await api.post(
            "/webhook-endpoints",
            json=ENDPOINT | {"event_types": types},
            headers=tokens.headers(org_id),
        )
        ids.append(created.json()["id"])
    viewer = tokens.headers(org_id, "viewer")
    first = (await api.get("/webhook-endpoints", params={"limit": 2}, headers=viewer)).json()
    assert [e["id"] for e in first["items"]] == [ids[2], ids[1]]
    rest = (
        await api.get(
            "/webhook-endpoints",
            params={"limit": 2, "cursor": first["next_cursor"]},
            headers=viewer,
        )
    ).json()
    assert ([e["id"] for e in rest["items"]], rest["next_cursor"]) == ([ids[0]], None)
    placed = (
        await api.get("/webhook-endpoints", params={"event_type": "order.placed"}, headers=viewer)
    ).json()
    assert [e["id"] for e in placed["items"]] == [ids[2], ids[0]]
    disabled = await api.get("/webhook-endpoints", params={"enabled": "false"}, headers=viewer)
    assert disabled.json()["items"] == []
    for params in (
        {"cursor": first["next_cursor"], "event_type": "order.placed"},  # bound to other filters
        {"cursor": "%%%"},
        {"limit": 0},
        {"limit": 101},
        {"event_type": "order.shipped"},
    ):
        bad = await api.get("/webhook-endpoints", params=params, headers=viewer)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation.failed"), params


class ScriptedSender:
    """Answers the attempts of the delivery log test in turn."""

    def __init__(self, *answers: SendResult) -> None:
        self.answers = list(answers)

    async def send(self, request: WebhookRequest) -> SendResult:
        return self.answers.pop(0)


async def test_the_delivery_log_with_attempts_filters_and_pages(
    api: httpx.AsyncClient,
    tokens: Tokens,
    sessions: async_sessionmaker[AsyncSession],
    org_id: uuid.UUID,
) -> None:
    created = await api.post("/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id))
    endpoint_id = created.json()["id"]
    use_cases: NotificationsUseCases = bootstrap(
        uow=unit_of_work_factory(sessions),
        sender=ScriptedSender(
            SendResult(503, AttemptError.HTTP_STATUS, 40),
            SendResult(None, AttemptError.TIMEOUT, 10_000),
        ),
        endpoint_rules=EndpointRules(),
        delivery_rules=DeliveryRules(schedule=RetrySchedule.of_seconds([60])),
    )
    await schedule_placed(use_cases, org_id, count=3)
    newest_first = (
        await api.get(
            f"/webhook-endpoints/{endpoint_id}/deliveries", headers=tokens.headers(org_id)
        )
    ).json()
    jsonschema.validate(newest_first, contract_schema("WebhookDeliveryPage"))
    assert [d["status"] for d in newest_first["items"]] == ["pending"] * 3
    # Two attempts of the oldest delivery: a 503, then (made due again) a timeout: dead.
    oldest = newest_first["items"][-1]["id"]
    [claimed] = [
        c
        for c in await use_cases.claim_due_deliveries(limit=50, per_endpoint=50)
        if str(c.delivery_id) == oldest
    ]
    await use_cases.attempt_delivery(claimed)
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE id = :d"),
            {"d": uuid.UUID(oldest)},
        )
    [again] = [
        c
        for c in await use_cases.claim_due_deliveries(limit=50, per_endpoint=50)
        if str(c.delivery_id) == oldest
    ]
    await use_cases.attempt_delivery(again)

    viewer = tokens.headers(org_id, "viewer")
    one = await api.get(f"/webhook-endpoints/{endpoint_id}/deliveries/{oldest}", headers=viewer)
    assert one.status_code == 200
    delivery = one.json()
    jsonschema.validate(delivery, contract_schema("WebhookDelivery"))
    assert (delivery["status"], delivery["next_attempt_at"], delivery["delivered_at"]) == (
        "failed",
        None,
        None,
    )
    assert [(a["number"], a["response_status"], a["error"]) for a in delivery["attempts"]] == [
        (1, 503, "http_status"),
        (2, None, "timeout"),
    ]
    assert delivery["attempts"][1]["duration_ms"] == 10_000

    base = f"/webhook-endpoints/{endpoint_id}/deliveries"
    failed = (await api.get(base, params={"status": "failed"}, headers=viewer)).json()
    assert [d["id"] for d in failed["items"]] == [oldest]
    none = await api.get(base, params={"event_type": "payment.failed"}, headers=viewer)
    assert none.json()["items"] == []
    page = (await api.get(base, params={"limit": 2}, headers=viewer)).json()
    rest = (
        await api.get(base, params={"limit": 2, "cursor": page["next_cursor"]}, headers=viewer)
    ).json()
    assert [d["id"] for d in page["items"] + rest["items"]] == [
        d["id"] for d in newest_first["items"]
    ]
    assert rest["next_cursor"] is None
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert (await api.get(base, params={"created_after": soon}, headers=viewer)).json()[
        "items"
    ] == []
    assert (
        len((await api.get(base, params={"created_before": soon}, headers=viewer)).json()["items"])
        == 3
    )
    for params in (
        {"cursor": page["next_cursor"], "status": "failed"},
        {"created_after": "2026-11-26T12:00:00"},  # no offset: not RFC 3339
        {"created_after": soon, "created_before": soon},
        {"status": "lost"},
    ):
        bad = await api.get(base, params=params, headers=viewer)
        assert (bad.status_code, bad.json()["code"]) == (422, "validation.failed"), params

    # Another org sees none of it; another endpoint's path does not reach this delivery.
    stranger = tokens.headers(uuid.uuid4(), "owner")
    for path in (base, f"{base}/{oldest}", f"/webhook-endpoints/{endpoint_id}"):
        response = await api.get(path, headers=stranger)
        assert (response.status_code, response.json()["code"]) == (
            404,
            "webhook_endpoint.not_found",
        )
    other = await api.post("/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id))
    wrong = await api.get(
        f"/webhook-endpoints/{other.json()['id']}/deliveries/{oldest}", headers=viewer
    )
    assert (wrong.status_code, wrong.json()["code"]) == (404, "webhook_delivery.not_found")

    # Deleting the endpoint abandons its open deliveries; the log stays readable.
    await api.delete(f"/webhook-endpoints/{endpoint_id}", headers=tokens.headers(org_id))
    after = (await api.get(base, headers=viewer)).json()
    assert [d["status"] for d in after["items"]] == ["failed"] * 3


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (path, method): {
            "operationId": op["operationId"],
            "success": sorted(code for code in op["responses"] if code.startswith("2")),
            "params": sorted(
                (p["name"].lower(), p["in"])
                for p in (
                    resolved_schema(CONTRACT, *p["$ref"].lstrip("#/").split("/"))
                    if "$ref" in p
                    else p
                    for p in op.get("parameters", [])
                )
            ),
        }
        for path, item in document["paths"].items()
        for method, op in item.items()
    }


async def test_the_served_openapi_has_the_contracts_operations(api: httpx.AsyncClient) -> None:
    served = (await api.get("/openapi.json")).json()
    contract = yaml.safe_load(CONTRACT.read_text())
    assert operations(served) == operations(contract)


ROLES = ("owner", "admin", "member", "viewer")
MATRIX = parse_permission_matrix((REPO / "docs/security.md").read_text(), "notifications")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("scope", ["own", "other"])
async def test_permission_matrix_per_operation(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, role: str, scope: str
) -> None:
    """Every operation x role x own/other org (docs/security.md: read for all, manage for
    owners and admins; another org's resource is 404 whatever the role)."""
    created = await api.post("/webhook-endpoints", json=ENDPOINT, headers=tokens.headers(org_id))
    endpoint_id = created.json()["id"]
    caller_org = org_id if scope == "own" else uuid.uuid4()
    caller = tokens.headers(caller_org, role)
    missing = uuid.uuid4()
    reads = [
        ("GET", f"/webhook-endpoints/{endpoint_id}", 200),
        ("GET", f"/webhook-endpoints/{endpoint_id}/deliveries", 200),
        ("GET", f"/webhook-endpoints/{endpoint_id}/deliveries/{missing}", 404),
    ]
    for method, path, own_status in reads:
        response = await api.request(method, path, headers=caller)
        assert response.status_code == (own_status if scope == "own" else 404), (method, path)
    listed = await api.get("/webhook-endpoints", headers=caller)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["items"]] == ([endpoint_id] if scope == "own" else [])
    assert all(role in MATRIX["webhooks.read"] for role in ROLES)  # as the reads above assume
    allowed = role in MATRIX["webhooks.manage"]
    create = await api.post("/webhook-endpoints", json=ENDPOINT, headers=caller)
    assert create.status_code == (201 if allowed else 403)
    delete = await api.delete(f"/webhook-endpoints/{endpoint_id}", headers=caller)
    expected = 404 if scope == "other" else (204 if allowed else 403)
    assert delete.status_code == expected
