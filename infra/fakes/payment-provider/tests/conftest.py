"""Fixtures: an httpx client per test against a fresh app from ``create_app`` (no shared state)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from payment_provider import ProviderConfig, create_app

ClientFactory = Callable[[ProviderConfig], AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def _client_for(config: ProviderConfig) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(config))
    async with httpx.AsyncClient(transport=transport, base_url="http://provider") as client:
        yield client


@pytest.fixture
def client_for() -> ClientFactory:
    """Open a client on a new provider built from the given config."""
    return _client_for


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """A client on a new provider with the default (well-behaved) config."""
    async with _client_for(ProviderConfig()) as client:
        yield client


@pytest.fixture
def payment() -> Callable[..., dict[str, Any]]:
    """Build an authorization request body; keyword arguments override fields."""

    def build(**overrides: Any) -> dict[str, Any]:
        return {"amount_minor": 1250, "currency": "EUR", "reference": "pay_1", **overrides}

    return build
