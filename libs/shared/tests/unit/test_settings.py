"""Settings: environment over secret files over defaults; secrets never dumped in clear."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.settings import DatabaseSettings, ServiceSettings


class OrdersSettings(ServiceSettings):
    service_name: str = "orders"


@pytest.fixture
def secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("ORDO_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ORDO_SECRETS_DIR", str(tmp_path))
    (tmp_path / "database__password").write_text("from-file\n")
    (tmp_path / "redis__password").write_text("redis-file")
    return tmp_path


def test_secret_files_fill_nested_fields(secrets: Path) -> None:
    settings = OrdersSettings()
    assert settings.database.password.get_secret_value() == "from-file"
    assert settings.redis.password.get_secret_value() == "redis-file"


def test_environment_wins_over_secret_files(secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDO_DATABASE__PASSWORD", "from-env")
    monkeypatch.setenv("ORDO_DATABASE__POOL_SIZE", "17")
    settings = OrdersSettings()
    assert settings.database.password.get_secret_value() == "from-env"
    assert settings.database.pool_size == 17


def test_a_service_connects_to_its_own_database_by_default(secrets: Path) -> None:
    settings = OrdersSettings()
    assert (settings.database.name, settings.database.user) == ("ordo_orders", "ordo_orders")
    assert settings.kafka.client_id == "orders"
    explicit = OrdersSettings(database=DatabaseSettings(name="other", user="someone"))
    assert (explicit.database.name, explicit.database.user) == ("other", "someone")


def test_dumps_and_urls_hide_secrets(secrets: Path) -> None:
    settings = OrdersSettings()
    dumped = str(settings.safe_dump())
    assert "from-file" not in dumped
    assert "from-file" not in str(settings.database.url())
    assert "from-file" in settings.database.dsn()


def test_no_secrets_folder_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDO_SECRETS_DIR", str(tmp_path / "absent"))
    monkeypatch.delenv("ORDO_DATABASE__PASSWORD", raising=False)
    assert OrdersSettings().database.password.get_secret_value() == ""


def test_invalid_values_are_rejected(secrets: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDO_DATABASE__POOL_SIZE", "0")
    with pytest.raises(ValueError, match="pool_size"):
        OrdersSettings()
