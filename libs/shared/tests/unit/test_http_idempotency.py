"""shared.http.idempotency: the Idempotency-Key header and the marked replay."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from shared.http import create_app
from shared.http.idempotency import REPLAYED_HEADER, IdempotencyKey, idempotent_response
from shared.idempotency import IdempotentResponse
from shared.settings import ServiceSettings

STORED = IdempotentResponse(201, {"id": "abc", "n": 1})


def _client() -> httpx.AsyncClient:
    router = APIRouter()

    @router.post("/things")
    async def create(key: IdempotencyKey) -> JSONResponse:
        return idempotent_response(
            STORED, replayed=key.startswith("old"), headers={"Location": "/things/abc"}
        )

    app = create_app(
        title="t", version="0", settings=ServiceSettings(), readiness={}, routers=[router]
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_first_answer_is_the_stored_response_unmarked() -> None:
    async with _client() as client:
        first = await client.post("/things", headers={"Idempotency-Key": "new-1"})
    assert (first.status_code, first.json()) == (201, STORED.body)
    assert first.headers["location"] == "/things/abc"
    assert REPLAYED_HEADER.lower() not in first.headers


async def test_a_replay_is_the_same_response_marked() -> None:
    async with _client() as client:
        again = await client.post("/things", headers={"Idempotency-Key": "old-1"})
    assert (again.status_code, again.json()) == (201, STORED.body)
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.headers["location"] == "/things/abc"


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": ""}, {"Idempotency-Key": "a b"}])
async def test_a_missing_or_malformed_key_is_422(headers: dict[str, str]) -> None:
    async with _client() as client:
        answer = await client.post("/things", headers=headers)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
