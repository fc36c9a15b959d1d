from __future__ import annotations

import httpx
import pytest

EXPECTED = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/ok", 200),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/ok", 405),
        ("GET", "/orders/not-a-number", 422),
        ("GET", "/raise/bug", 500),
        ("GET", "/raise/dependency", 503),
        ("GET", "/health/live", 200),
        ("GET", "/metrics", 200),
    ],
)
async def test_security_headers_are_on_every_response(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path)

    assert response.status_code == status
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, name
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["x-request-id"]


async def test_a_handler_can_choose_its_cache_control(client: httpx.AsyncClient) -> None:
    response = await client.get("/cached")

    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["x-frame-options"] == "DENY"
