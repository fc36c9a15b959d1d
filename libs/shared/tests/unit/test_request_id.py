from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
import structlog


async def test_a_safe_incoming_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/ok", headers={"X-Request-ID": "edge-1.abc_DEF-9"})

    assert response.headers["x-request-id"] == "edge-1.abc_DEF-9"


@pytest.mark.parametrize(
    "incoming",
    ["a" * 65, "has space", "semi;colon", 'quote"d', "", "é-accent", "new\tline"],
)
async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/ok", headers={"X-Request-ID": incoming.encode("utf-8")})

    generated = response.headers["x-request-id"]
    assert generated != incoming
    assert uuid.UUID(generated).version == 7


async def test_every_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/ok")
    second = await client.get("/ok")

    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_log_lines_in_a_request_carry_its_id(client: httpx.AsyncClient, logs: Any) -> None:
    await client.get("/log", headers={"X-Request-ID": "req-log-1"})

    [line] = logs.events("inside_request")
    assert line["request_id"] == "req-log-1"


async def test_the_id_is_unbound_after_the_request(client: httpx.AsyncClient) -> None:
    await client.get("/log", headers={"X-Request-ID": "req-log-2"})

    assert "request_id" not in structlog.contextvars.get_contextvars()
