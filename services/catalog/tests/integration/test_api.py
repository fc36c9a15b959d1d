"""Catalog's internal API on the real database: auth, roles, tenancy, problem+json codes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from catalog.bootstrap import CacheSettings, build_app
from shared.settings import DatabaseSettings
from shared.testing import Endpoints

from .conftest import Tokens, app_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    """A signing key of this module and its verifier's key source."""
    return Tokens()


@pytest.fixture(scope="module")
async def api(
    migrated: DatabaseSettings, tokens: Tokens, ordo_endpoints: Endpoints
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of catalog's app (lifespan run), caching in Redis as one instance."""
    prefix = f"test:catalog-api:{uuid.uuid4().hex[:10]}:"
    settings = app_settings(
        migrated, ordo_endpoints, cache=CacheSettings(key_prefix=prefix, listen=False)
    )
    app = build_app(settings, keys=tokens.keys)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
            yield client


PRODUCT = {"sku": "API-1", "name": "Widget", "price": {"amount_minor": 1999, "currency": "EUR"}}


async def test_products_and_stock_through_the_api(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    member = tokens.headers(org_id)
    created = await api.post("/products", json=PRODUCT, headers=member)
    assert created.status_code == 201, created.text
    product = created.json()
    assert created.headers["Location"] == f"/products/{product['id']}"
    assert product["version"] == 1
    assert product["description"] is None

    taken = await api.post("/products", json=PRODUCT, headers=tokens.headers(org_id))
    assert (taken.status_code, taken.json()["code"]) == (409, "product.sku_taken")

    stock = await api.put("/stock/API-1", json={"on_hand": 10}, headers=member)
    assert stock.json() | {"updated_at": None} == {
        "product_id": product["id"],
        "sku": "API-1",
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "version": 2,
        "updated_at": None,
    }
    adjusted = await api.post(
        "/stock/API-1/adjustments", json={"delta": -4, "reason": "damaged"}, headers=member
    )
    assert adjusted.status_code == 201, adjusted.text
    assert adjusted.json()["stock"]["on_hand"] == 6
    below = await api.put("/stock/API-1", json={"on_hand": -1}, headers=member)
    assert below.status_code == 422

    price = await api.put(
        f"/products/{product['id']}/price",
        json={"price": {"amount_minor": 2500, "currency": "EUR"}, "expected_version": 1},
        headers=member,
    )
    assert (price.status_code, price.json()["code"]) == (409, "product.version_conflict")
    price = await api.put(
        f"/products/{product['id']}/price",
        json={"price": {"amount_minor": 2500, "currency": "EUR"}, "expected_version": 3},
        headers=member,
    )
    assert price.status_code == 200, price.text
    assert price.json()["version"] == 4

    viewer = tokens.headers(org_id, "viewer")
    page = await api.get("/products", headers=viewer)
    assert [p["sku"] for p in page.json()["items"]] == ["API-1"]
    assert (await api.get("/stock/API-1", headers=viewer)).json()["available"] == 6
    for sku in ("API-0", "API-2"):
        await api.post("/products", json=PRODUCT | {"sku": sku}, headers=tokens.headers(org_id))
    first = (await api.get("/stock", params={"limit": 2}, headers=viewer)).json()
    assert [s["sku"] for s in first["items"]] == ["API-0", "API-1"]
    rest = (await api.get("/stock", params={"cursor": first["next_cursor"]}, headers=viewer)).json()
    assert ([s["sku"] for s in rest["items"]], rest["next_cursor"]) == (["API-2"], None)
    low = await api.get(
        "/stock", params={"available_lt": 1, "sku": ["API-1", "API-2"]}, headers=viewer
    )
    assert [s["sku"] for s in low.json()["items"]] == ["API-2"]
    bad = await api.get("/stock", params={"cursor": "%%%"}, headers=viewer)
    assert bad.status_code == 422
    # A cursor is bound to its filters: replayed with others it is a 422, not a wrong page.
    other = await api.get(
        "/stock", params={"cursor": first["next_cursor"], "available_lt": 3}, headers=viewer
    )
    assert other.status_code == 422


async def test_roles_tenancy_and_missing_credentials(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    created = await api.post("/products", json=PRODUCT, headers=tokens.headers(org_id))
    product_id = created.json()["id"]
    viewer = await api.post(
        "/products", json=PRODUCT | {"sku": "API-2"}, headers=tokens.headers(org_id, "viewer")
    )
    assert (viewer.status_code, viewer.json()["code"]) == (403, "auth.permission_denied")
    stranger = tokens.headers(uuid.uuid4(), "owner")
    for response in (
        await api.get(f"/products/{product_id}", headers=stranger),
        await api.get("/stock/API-1", headers=stranger),
    ):
        assert (response.status_code, response.json()["code"]) == (404, "product.not_found")
    anonymous = await api.get(f"/products/{product_id}")
    assert anonymous.status_code == 401
    no_key = tokens.headers(org_id)
    del no_key["Idempotency-Key"]
    missing = await api.post("/products", json=PRODUCT | {"sku": "API-3"}, headers=no_key)
    assert missing.status_code == 422
