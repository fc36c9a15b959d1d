"""Upstream settings: fixed local ports by default, each field overridable from the environment
without losing the others (a nested env var replaces the whole default model otherwise)."""

from __future__ import annotations

import pytest

from gateway.bootstrap import UPSTREAM_PORTS, GatewaySettings


def test_every_upstream_defaults_to_its_local_port() -> None:
    settings = GatewaySettings()
    assert {name: s.url for name, s in settings.upstreams.items()} == {
        "identity": "http://127.0.0.1:8001",
        "catalog": "http://127.0.0.1:8002",
        "orders": "http://127.0.0.1:8003",
        "payments": "http://127.0.0.1:8004",
        "notifications": "http://127.0.0.1:8005",
    }
    assert set(UPSTREAM_PORTS) == {name for name, _ in settings.upstreams.items()}


def test_one_field_from_the_environment_keeps_the_default_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORDO_UPSTREAMS__CATALOG__TIMEOUT_S", "5")
    monkeypatch.setenv("ORDO_UPSTREAMS__ORDERS__URL", "http://orders.internal:80")
    settings = GatewaySettings()
    assert settings.upstreams.catalog.url == "http://127.0.0.1:8002"
    assert settings.upstreams.catalog.timeout_s == 5
    assert settings.upstreams.orders.url == "http://orders.internal:80"
    assert settings.upstreams.payments.timeout_s == 3.0


def test_defaults_are_not_shared_between_instances() -> None:
    first, second = GatewaySettings(), GatewaySettings()
    assert first.upstreams.catalog is not second.upstreams.catalog
