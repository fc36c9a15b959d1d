"""The /docs routes: the built pages with their own CSP, every other route with the strict one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gateway.adapters.http.docs import DOCS_CSP, build_docs_router, find_docs, load_docs
from shared.http import create_app
from shared.http.middleware import SECURITY_HEADERS
from shared.settings import ServiceSettings

DOCS = find_docs(Path(__file__).resolve().parent)


@pytest.fixture
async def client() -> httpx.AsyncClient:
    app: FastAPI = create_app(
        title="docs",
        version="0",
        settings=ServiceSettings(service_name="gateway"),
        readiness={},
        routers=[build_docs_router(load_docs(DOCS))],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(
    ("path", "marker"),
    [
        ("/docs", 'id="swagger-ui"'),
        ("/docs/", "Idempotency-Key"),
        ("/docs/events", "orders.events"),
        ("/docs/errors/", "validation.failed"),
        ("/docs/errors/validation.failed", "What to do"),
    ],
)
async def test_pages_are_served_with_the_docs_policy(
    client: httpx.AsyncClient, path: str, marker: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert marker in response.text
    assert response.headers["content-security-policy"] == DOCS_CSP
    assert response.headers["x-frame-options"] == "DENY"


async def test_other_routes_keep_the_strict_policy(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/live")

    strict = SECURITY_HEADERS["Content-Security-Policy"]
    assert response.headers["content-security-policy"] == strict
    assert "script-src" not in strict


async def test_the_docs_policy_allows_this_origin_only() -> None:
    directives = dict(part.strip().split(" ", 1) for part in DOCS_CSP.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "http" not in DOCS_CSP


@pytest.mark.parametrize(
    "path",
    [
        "/docs/errors/no.such_code",
        "/docs/errors/a..b",
        "/docs/errors/%2E%2E%2Fx",
        "/docs/static/../site.py",
        "/docs/x",
    ],
)
async def test_anything_else_is_a_not_found_problem(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_assets_are_cacheable_and_typed(client: httpx.AsyncClient) -> None:
    css = await client.get("/docs/static/docs.css")

    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert css.headers["cache-control"] == "public, max-age=3600"


def test_swagger_ui_comes_from_the_npm_package_when_installed() -> None:
    files = load_docs(DOCS)
    installed = (DOCS / "node_modules" / "swagger-ui-dist").is_dir()
    served = {
        "/docs/assets/swagger-ui/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui/swagger-ui.css",
    }
    assert (served <= files.keys()) is installed


async def test_large_files_are_sent_gzipped_when_the_client_accepts_it(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/docs/events", headers={"accept-encoding": "identity"})
    packed = await client.get("/docs/events", headers={"accept-encoding": "gzip, br"})

    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    assert packed.text == plain.text  # httpx decodes it
    assert int(packed.headers["content-length"]) < len(plain.content) / 4


def test_without_a_built_site_the_gateway_serves_no_docs(tmp_path: Path) -> None:
    assert find_docs(tmp_path) == tmp_path / "tools" / "docs"
    assert load_docs(find_docs(tmp_path)) == {}
