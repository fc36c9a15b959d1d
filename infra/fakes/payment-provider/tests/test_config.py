"""Start-up configuration from PAYMENT_PROVIDER_* variables."""

from __future__ import annotations

import pydantic
import pytest

from payment_provider import ProviderConfig


def test_defaults() -> None:
    config = ProviderConfig.from_env({})
    assert (config.host, config.port, config.error_rate, config.seed) == (
        "127.0.0.1",
        8090,
        0,
        None,
    )
    assert config.outage_mode == "503"


def test_reads_prefixed_variables() -> None:
    config = ProviderConfig.from_env(
        {
            "PAYMENT_PROVIDER_PORT": "9100",
            "PAYMENT_PROVIDER_HOST": "0.0.0.0",
            "PAYMENT_PROVIDER_LATENCY_MS": "40",
            "PAYMENT_PROVIDER_LATENCY_JITTER_MS": "10",
            "PAYMENT_PROVIDER_ERROR_RATE": "0.1",
            "PAYMENT_PROVIDER_ERROR_AFTER_COMMIT_RATE": "0.05",
            "PAYMENT_PROVIDER_SEED": "7",
            "PAYMENT_PROVIDER_OUTAGE_MODE": "hang",
            "ORDO_HTTP_PORT": "1234",
        }
    )
    assert (config.port, config.host, config.seed, config.outage_mode) == (
        9100,
        "0.0.0.0",
        7,
        "hang",
    )
    assert (config.latency_ms, config.latency_jitter_ms) == (40, 10)
    assert (config.error_rate, config.error_after_commit_rate) == (0.1, 0.05)


def test_port_falls_back_to_the_procfile_port() -> None:
    assert ProviderConfig.from_env({"ORDO_HTTP_PORT": "8091"}).port == 8091


@pytest.mark.parametrize(
    "variables",
    [
        {"PAYMENT_PROVIDER_ERROR_RATE": "2"},
        {"PAYMENT_PROVIDER_OUTAGE_MODE": "explode"},
        {"PAYMENT_PROVIDER_PORT": "http"},
    ],
)
def test_rejects_bad_values(variables: dict[str, str]) -> None:
    with pytest.raises(pydantic.ValidationError):
        ProviderConfig.from_env(variables)
