"""Authorizations: create, decline, read, list, void, idempotency keys and validation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

Body = Callable[..., dict[str, Any]]


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def count_for(client: httpx.AsyncClient, reference: str) -> int:
    listed = await client.get("/v1/authorizations", params={"reference": reference})
    assert listed.status_code == 200
    return int(listed.json()["count"])


async def test_authorize_returns_201_with_the_authorization(
    client: httpx.AsyncClient, payment: Body
) -> None:
    response = await client.post("/v1/authorizations", json=payment(), headers=key("k1"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("auth_")
    assert body["status"] == "authorized"
    assert (body["amount_minor"], body["currency"], body["reference"]) == (1250, "EUR", "pay_1")
    assert body["created_at"]
    assert "Idempotent-Replayed" not in response.headers
    fetched = await client.get(f"/v1/authorizations/{body['id']}")
    assert fetched.json() == body


async def test_magic_token_declines_and_others_never_do(
    client: httpx.AsyncClient, payment: Body
) -> None:
    declined = await client.post(
        "/v1/authorizations", json=payment(card_token="tok_decline"), headers=key("d")
    )
    assert declined.status_code == 201
    assert declined.json()["status"] == "declined"
    assert declined.json()["decline_code"] == "card_declined"
    for i in range(20):
        ok = await client.post(
            "/v1/authorizations", json=payment(card_token="tok_visa"), headers=key(f"ok{i}")
        )
        assert ok.json()["status"] == "authorized"


async def test_same_key_and_body_replays_the_original_response(
    client: httpx.AsyncClient, payment: Body
) -> None:
    first = await client.post("/v1/authorizations", json=payment(), headers=key("same"))
    # The same meaning in another key order is the same body.
    reordered = dict(reversed(list(payment().items())))
    again = await client.post("/v1/authorizations", json=reordered, headers=key("same"))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert await count_for(client, "pay_1") == 1


async def test_same_key_with_another_body_is_422(client: httpx.AsyncClient, payment: Body) -> None:
    await client.post("/v1/authorizations", json=payment(), headers=key("reused"))
    other = await client.post(
        "/v1/authorizations", json=payment(amount_minor=999), headers=key("reused")
    )
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert await count_for(client, "pay_1") == 1
    stats = (await client.get("/admin/stats")).json()
    assert stats["outcomes"]["key_reused"] == 1


async def test_fifty_concurrent_requests_with_one_key_create_one_authorization(
    client: httpx.AsyncClient, payment: Body
) -> None:
    await client.put("/admin/behaviour", json={"latency_ms": 5, "jitter_ms": 5})
    responses = await asyncio.gather(
        *(
            client.post("/v1/authorizations", json=payment(reference="race"), headers=key("race"))
            for _ in range(50)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count_for(client, "race") == 1
    stats = (await client.get("/admin/stats")).json()
    assert (stats["outcomes"]["authorized"], stats["outcomes"]["replayed"]) == (1, 49)


async def test_list_filters_by_reference(client: httpx.AsyncClient, payment: Body) -> None:
    for i, reference in enumerate(["a", "b", "a"]):
        await client.post(
            "/v1/authorizations", json=payment(reference=reference), headers=key(f"{i}")
        )
    assert await count_for(client, "a") == 2
    assert await count_for(client, "b") == 1
    assert await count_for(client, "none") == 0
    assert (await client.get("/v1/authorizations")).json()["count"] == 3


async def test_void_is_idempotent(client: httpx.AsyncClient, payment: Body) -> None:
    created = (await client.post("/v1/authorizations", json=payment(), headers=key("v"))).json()
    first = await client.post(f"/v1/authorizations/{created['id']}/void")
    second = await client.post(f"/v1/authorizations/{created['id']}/void")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["status"] == "voided"
    assert first.json()["voided_at"]
    assert (await client.get(f"/v1/authorizations/{created['id']}")).json()["status"] == "voided"
    # A replay still answers the original response, as recorded.
    replay = await client.post("/v1/authorizations", json=payment(), headers=key("v"))
    assert replay.json()["status"] == "authorized"
    assert (await client.get("/admin/stats")).json()["outcomes"]["voided"] == 1


async def test_void_of_a_declined_authorization_is_409(
    client: httpx.AsyncClient, payment: Body
) -> None:
    declined = await client.post(
        "/v1/authorizations", json=payment(card_token="tok_decline"), headers=key("dv")
    )
    response = await client.post(f"/v1/authorizations/{declined.json()['id']}/void")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("path", ["/v1/authorizations/auth_nope", "/v1/nowhere"])
async def test_unknown_is_404_problem(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount_minor": 0}, "amount_minor"),
        ({"amount_minor": -5}, "amount_minor"),
        ({"amount_minor": "100"}, "amount_minor"),
        ({"amount_minor": 12.5}, "amount_minor"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"reference": ""}, "reference"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_invalid_body_is_422_problem(
    client: httpx.AsyncClient, payment: Body, overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/authorizations", json=payment(**overrides), headers=key("x"))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert {"type", "title", "status", "detail"} <= problem.keys()
    assert problem["status"] == 422
    assert any(error["loc"][-1] == field for error in problem["errors"]), problem
    assert (await client.get("/v1/authorizations")).json()["count"] == 0


async def test_missing_body_field_and_missing_key_are_422_problem(
    client: httpx.AsyncClient, payment: Body
) -> None:
    body = payment()
    del body["reference"]
    no_reference = await client.post("/v1/authorizations", json=body, headers=key("y"))
    no_key = await client.post("/v1/authorizations", json=payment())
    for response in (no_reference, no_key):
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
    assert ["header", "Idempotency-Key"] in [e["loc"] for e in no_key.json()["errors"]]
