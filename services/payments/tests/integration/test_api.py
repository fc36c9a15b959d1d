"""Payments' internal API on the real database: the contract's shape, every status as the payment
has it, auth, roles, tenancy and problem+json codes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from asgi_lifespan import LifespanManager
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.application.facade import PaymentsUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.bootstrap import AuthSettings, PaymentsSettings, build_app
from payments.domain.values import Money, PaymentStatus
from shared.inbox.testing import wait_until
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings
from shared.testing.tokens import TokenIssuer

from .conftest import Provider, fast_settings, payment_row, running_worker, wait_for_status

pytestmark = pytest.mark.integration

ISS, AUD, KID = "https://identity.test", "ordo-test", "test-key"
CONTRACTS = Path(__file__).resolve().parents[4] / "contracts" / "openapi"
CONTRACT = CONTRACTS / "payments.yaml"


class Tokens(TokenIssuer):
    """Signs access tokens the way identity does, for one test key."""

    def __init__(self) -> None:
        super().__init__(issuer=ISS, audience=AUD, kid=KID)

    def headers(self, org_id: uuid.UUID, *roles: str) -> dict[str, str]:
        """Authorization for a caller of ``org_id`` with ``roles``."""
        return self.bearer(org_id, *roles)


def contract_schema(name: str) -> dict[str, Any]:
    """A schema of the contract, with its local ``$ref``s resolvable by jsonschema."""
    document = yaml.safe_load(CONTRACT.read_text())
    return {"$ref": f"#/components/schemas/{name}", "components": document["components"]}


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    """A signing key of this module and its verifier's key source."""
    return Tokens()


@pytest.fixture(scope="module")
async def api(migrated: DatabaseSettings, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of payments' app (lifespan run)."""
    settings = PaymentsSettings(
        environment="test", database=migrated, auth=AuthSettings(issuer=ISS, audience=AUD)
    )
    app = build_app(settings, keys=tokens.keys)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payments") as client:
            yield client


async def test_the_payment_of_an_order_as_the_contract_shapes_it(
    api: httpx.AsyncClient,
    tokens: Tokens,
    payments: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    path = f"/orders/{order}/payment"
    assert (await api.get(path, headers=tokens.headers(org_id, "viewer"))).status_code == 404
    await provider.behave(error_rate=1.0)
    async with running_worker(fast_settings(migrated, provider.url), Metrics()):
        await payments.request_payment(
            RequestPaymentInput(org_id, order, Money(4997, "EUR"), uuid.uuid4())
        )

        async def deferred() -> bool:
            row = await payment_row(engine, order)
            return row is not None and row["postponements"] >= 1

        await wait_until(deferred, message="deferred")
        pending = await api.get(path, headers=tokens.headers(org_id, "viewer"))
        await provider.behave()
        await wait_for_status(engine, order, "authorized")
    schema = contract_schema("Payment")
    assert pending.status_code == 200
    jsonschema.validate(pending.json(), schema)
    assert pending.json()["status"] == "pending"
    assert pending.json()["next_attempt_at"] is not None

    response = await api.get(path, headers=tokens.headers(org_id, "viewer"))
    assert response.status_code == 200
    body = response.json()
    jsonschema.validate(body, schema)
    assert body["status"] == "authorized"
    assert body["order_id"] == str(order)
    assert body["amount"] == {"amount_minor": 4997, "currency": "EUR"}
    assert body["provider"] == "fakepay"
    assert body["provider_reference"].startswith("auth_")
    assert body["next_attempt_at"] is None
    assert body["attempts"][-1]["outcome"] == "authorized"
    assert {a["outcome"] for a in body["attempts"][:-1]} <= {"provider_error", "circuit_open"}
    assert body["attempts"][0]["provider_status"] == 503
    assert [a["number"] for a in body["attempts"]] == list(range(1, len(body["attempts"]) + 1))


async def served(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, order_id: uuid.UUID
) -> dict[str, Any]:
    """The order's payment as the API serves it, checked against the contract's schema."""
    response = await api.get(
        f"/orders/{order_id}/payment", headers=tokens.headers(org_id, "viewer")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    jsonschema.validate(body, contract_schema("Payment"))
    return body


def test_the_contracts_list_every_status_a_payment_has() -> None:
    for name in ("payments.yaml", "gateway.v1.yaml"):
        document = yaml.safe_load((CONTRACTS / name).read_text())
        listed = document["components"]["schemas"]["PaymentStatus"]["enum"]
        assert listed == [status.value for status in PaymentStatus], name


async def test_a_payment_cancelled_before_any_call_is_served_cancelled(
    api: httpx.AsyncClient, tokens: Tokens, payments: PaymentsUseCases, org_id: uuid.UUID
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(
        RequestPaymentInput(org_id, order, Money(100, "EUR"), uuid.uuid4())
    )
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))

    body = await served(api, tokens, org_id, order)
    assert body["status"] == "cancelled"
    assert (body["provider_reference"], body["attempts"], body["next_attempt_at"]) == (
        None,
        [],
        None,
    )


async def test_an_authorised_payment_is_served_voiding_until_it_is_voided(
    api: httpx.AsyncClient,
    tokens: Tokens,
    payments: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    settings = fast_settings(migrated, provider.url)
    async with running_worker(settings, Metrics()):
        await payments.request_payment(
            RequestPaymentInput(org_id, order, Money(2500, "EUR"), uuid.uuid4())
        )
        await wait_for_status(engine, order, "authorized")
    authorized = await served(api, tokens, org_id, order)
    assert authorized["status"] == "authorized"

    # No worker runs now: the cancel leaves the payment voiding, still held at the provider.
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    voiding = await served(api, tokens, org_id, order)
    assert voiding["status"] == "voiding"
    assert voiding["provider_reference"] == authorized["provider_reference"]
    assert voiding["authorized_at"] == authorized["authorized_at"]
    assert voiding["next_attempt_at"] is not None
    held = await provider.authorizations(str(order))
    assert [a["status"] for a in held] == ["authorized"]

    async with running_worker(settings, Metrics()):
        await wait_for_status(engine, order, "voided")
    voided = await served(api, tokens, org_id, order)
    assert voided["status"] == "voided"
    assert voided["provider_reference"] == authorized["provider_reference"]
    assert voided["next_attempt_at"] is None


async def test_a_payment_the_provider_never_authorised_is_served_voiding_then_cancelled(
    api: httpx.AsyncClient,
    tokens: Tokens,
    payments: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    settings = fast_settings(migrated, provider.url)
    await provider.behave(error_rate=1.0)  # a 503 before anything is authorised
    async with running_worker(settings, Metrics()):
        await payments.request_payment(
            RequestPaymentInput(org_id, order, Money(700, "EUR"), uuid.uuid4())
        )

        async def deferred() -> bool:
            row = await payment_row(engine, order)
            return row is not None and row["postponements"] >= 1

        await wait_until(deferred, message="deferred")
    pending = await served(api, tokens, org_id, order)
    assert pending["status"] == "pending"

    # A call reached the provider, so the cancel must make sure nothing is held there.
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    voiding = await served(api, tokens, org_id, order)
    assert voiding["status"] == "voiding"
    assert (voiding["provider_reference"], voiding["authorized_at"]) == (None, None)
    assert voiding["next_attempt_at"] is not None

    await provider.behave()
    async with running_worker(settings, Metrics()):
        await wait_for_status(engine, order, "cancelled")
    cancelled = await served(api, tokens, org_id, order)
    assert cancelled["status"] == "cancelled"
    assert (cancelled["provider_reference"], cancelled["next_attempt_at"]) == (None, None)
    assert await provider.authorizations(str(order)) == []


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
async def test_every_role_reads_and_another_org_sees_nothing(
    api: httpx.AsyncClient,
    tokens: Tokens,
    payments: PaymentsUseCases,
    org_id: uuid.UUID,
    role: str,
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(
        RequestPaymentInput(org_id, order, Money(300, "EUR"), uuid.uuid4())
    )
    path = f"/orders/{order}/payment"
    assert (await api.get(path, headers=tokens.headers(org_id, role))).status_code == 200
    stranger = await api.get(path, headers=tokens.headers(uuid.uuid4(), "owner"))
    assert stranger.status_code == 404
    assert stranger.headers["content-type"] == "application/problem+json"
    assert stranger.json()["code"] == "payment.not_found"


async def test_problems_for_bad_callers_and_bad_input(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    path = f"/orders/{uuid.uuid4()}/payment"
    anonymous = await api.get(path)
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "auth.unauthenticated"
    forged = await api.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert forged.status_code == 401
    roleless = await api.get(path, headers=tokens.headers(org_id))
    assert roleless.status_code == 403
    assert roleless.json()["code"] == "auth.permission_denied"
    bad_id = await api.get("/orders/not-a-uuid/payment", headers=tokens.headers(org_id, "member"))
    assert bad_id.status_code == 422
    assert bad_id.headers["content-type"] == "application/problem+json"
    assert bad_id.json()["code"] == "validation.failed"
    for response in (anonymous, forged, roleless, bad_id):
        jsonschema.validate(response.json(), contract_schema("ProblemDetails"))


async def test_the_served_operation_is_the_contracts(api: httpx.AsyncClient) -> None:
    served = (await api.get("/openapi.json")).json()
    contract = yaml.safe_load(CONTRACT.read_text())
    for path, item in contract["paths"].items():
        for method, operation in item.items():
            assert served["paths"][path][method]["operationId"] == operation["operationId"]
    assert set(served["paths"]) - {"/health/live", "/health/ready"} == set(contract["paths"])
