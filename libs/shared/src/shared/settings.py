"""Service settings: environment variables and secret files, read once in a composition root.

Every service subclasses :class:`ServiceSettings` and builds it in its ``bootstrap`` module, never
at import time. Values come from, highest precedence first:

1. keyword arguments (tests);
2. environment variables prefixed ``ORDO_``; nested fields use ``__``
   (``ORDO_DATABASE__POOL_SIZE=20``);
3. secret files in ``ORDO_SECRETS_DIR`` (default ``/run/secrets``), one file per field, nested
   fields joined with ``__`` (``database__password``, ``redis__password``), as Kubernetes and
   Docker mount them;
4. the defaults below, which match the local stack that ``make up`` starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    NestedSecretsSettingsSource,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import URL

__all__ = [
    "DatabaseSettings",
    "HousekeepingSettings",
    "KafkaSettings",
    "RedisSettings",
    "ServiceSettings",
    "default_secrets_dir",
]

LOCAL_POSTGRES_PORT = 15432
LOCAL_REDIS_PORT = 16379
LOCAL_KAFKA_PORT = 19092
# Where a problem's ``type`` points: the local gateway's error pages, or the public site.
LOCAL_ERRORS_BASE_URL = "http://127.0.0.1:8000/docs/errors/"
PUBLIC_ERRORS_BASE_URL = "https://errors.ordo.dev/"


def default_secrets_dir() -> Path:
    """Return the folder secret files are read from (``ORDO_SECRETS_DIR`` or ``/run/secrets``)."""
    return Path(os.environ.get("ORDO_SECRETS_DIR", "/run/secrets"))


class DatabaseSettings(BaseModel):
    """One service's PostgreSQL database, its role and the pool sized for one instance."""

    host: str = "127.0.0.1"
    port: int = LOCAL_POSTGRES_PORT
    name: str = "postgres"
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=5, ge=0, le=200)
    pool_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=5_000, ge=0)

    def url(self, driver: str = "postgresql+asyncpg") -> URL:
        """Return the SQLAlchemy URL; render it with ``hide_password=False`` only to connect."""
        return URL.create(
            drivername=driver,
            username=self.user,
            password=self.password.get_secret_value() or None,
            host=self.host,
            port=self.port,
            database=self.name,
        )

    def dsn(self) -> str:
        """Return a libpq/asyncpg DSN (``postgresql://``), password included: never log it."""
        return self.url("postgresql").render_as_string(hide_password=False)


class KafkaSettings(BaseModel):
    """The Kafka cluster and this process's client identity."""

    bootstrap_servers: str = f"127.0.0.1:{LOCAL_KAFKA_PORT}"
    client_id: str = "ordo"
    request_timeout_s: float = Field(default=10.0, gt=0)


class RedisSettings(BaseModel):
    """The Redis server used for rate limits and caches."""

    host: str = "127.0.0.1"
    port: int = LOCAL_REDIS_PORT
    db: int = 0
    password: SecretStr = SecretStr("")
    socket_timeout_s: float = Field(default=2.0, gt=0)

    def url(self) -> str:
        """Return a ``redis://`` URL without the password (pass the password separately)."""
        return f"redis://{self.host}:{self.port}/{self.db}"


class HousekeepingSettings(BaseModel):
    """The periodic deletions of ``shared.housekeeping`` (``ORDO_HOUSEKEEPING__*``).

    Intervals stay between 5 minutes and 1 hour: the ``JobHeartbeatStale`` alert expects a
    ``<service>.purge_*`` job to have run within 3 hours.
    """

    idempotency_interval_s: float = Field(default=300.0, gt=0)
    inbox_retention_days: float = Field(default=30.0, ge=8)
    inbox_interval_s: float = Field(default=3600.0, gt=0)
    outbox_retention_s: float = Field(default=24 * 3600.0, ge=0)
    outbox_interval_s: float = Field(default=300.0, gt=0)


class ServiceSettings(BaseSettings):
    """Settings shared by every Ordo process; services subclass it to add their own fields."""

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        env_prefix="ORDO_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    service_name: str = "ordo"
    environment: Literal["local", "test", "staging", "production"] = "local"
    log_level: str = "INFO"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # ``ORDO_ROLES``: which of its roles (api, consumer, relay, worker) the service's own console
    # script (``ordo-<service>``) runs in its one process: ``all`` or a comma-separated list.
    roles: str = "all"
    otel_exporter_otlp_endpoint: str | None = None
    # ``ORDO_FLAGS_FILE``: the flagd flag file of the feature flags (shared.flags, docs/flags.md),
    # re-read when it changes; unset, every flag is the default its caller gives.
    flags_file: str | None = None
    # Head sampling of new traces (``ORDO_OTEL_TRACES_SAMPLE_RATIO``); a span whose parent was
    # sampled elsewhere follows its parent, so a trace is whole or absent. Not recorded spans
    # cost a fraction of recorded ones. Tests build their providers at 1.0.
    otel_traces_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    readiness_timeout_s: float = Field(default=2.0, gt=0)
    # ``ORDO_ERRORS_BASE_URL``: a problem's ``type`` is this URL + its code, a page explaining
    # the code. Unset: the gateway's own pages (/docs/errors/) locally and in tests, the public
    # errors site elsewhere (:meth:`errors_base`).
    errors_base_url: str | None = None
    database: DatabaseSettings = DatabaseSettings()
    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    housekeeping: HousekeepingSettings = HousekeepingSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Read init kwargs, then the environment, then secret files; never a ``.env`` file."""
        secrets: list[PydanticBaseSettingsSource] = []
        folder = default_secrets_dir()
        if folder.is_dir():
            secrets.append(
                NestedSecretsSettingsSource(
                    SecretsSettingsSource(settings_cls, secrets_dir=folder),
                    secrets_prefix="",
                    secrets_nested_delimiter="__",
                )
            )
        return (init_settings, env_settings, *secrets)

    @model_validator(mode="after")
    def _default_to_own_database(self) -> ServiceSettings:
        # Each service owns database ``ordo_<service>`` reached by role ``ordo_<service>``;
        # unless told otherwise, connect there and name the Kafka client after the service.
        # (Class-level defaults of nested models would be lost as soon as any source sets one
        # nested field, e.g. the ``database__password`` secret file.)
        own = f"ordo_{self.service_name}"
        if "name" not in self.database.model_fields_set:
            self.database.name = own
        if "user" not in self.database.model_fields_set:
            self.database.user = own
        if "client_id" not in self.kafka.model_fields_set:
            self.kafka.client_id = self.service_name
        return self

    def errors_base(self) -> str:
        """Return the base URL of the error pages, ending in ``/``: the code is appended."""
        base = self.errors_base_url or (
            LOCAL_ERRORS_BASE_URL
            if self.environment in ("local", "test")
            else PUBLIC_ERRORS_BASE_URL
        )
        return base if base.endswith("/") else base + "/"

    def safe_dump(self) -> dict[str, Any]:
        """Return the settings as a dict with every secret masked, fit for a start-up log."""
        return self.model_dump(mode="json")
