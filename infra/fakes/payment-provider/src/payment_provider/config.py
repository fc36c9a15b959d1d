"""Start-up configuration of the fake provider, read from ``PAYMENT_PROVIDER_*`` variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

OutageMode = Literal["503", "hang"]

ENV_PREFIX = "PAYMENT_PROVIDER_"
# infra/services.sh hands every Procfile process its port as ORDO_HTTP_PORT.
FALLBACK_PORT_VARIABLE = "ORDO_HTTP_PORT"


class ProviderConfig(BaseModel):
    """How the fake provider starts; the behaviour part can be changed later via /admin.

    ``error_rate`` is the chance of a 503 before anything happens; ``error_after_commit_rate``
    the chance of a 500 after the authorization (or void) is recorded, which forces clients to
    retry with the same idempotency key. ``seed`` makes latency jitter and error draws repeatable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    latency_jitter_ms: float = Field(default=0.0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_after_commit_rate: float = Field(default=0.0, ge=0, le=1)
    seed: int | None = None
    outage_mode: OutageMode = "503"
    hang_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ProviderConfig:
        """Build the config from ``PAYMENT_PROVIDER_<FIELD>`` variables (e.g. ``_LATENCY_MS``).

        The port falls back to ``ORDO_HTTP_PORT`` (set by infra/services.sh), then 8090. Invalid
        values raise pydantic's ``ValidationError`` naming the field.
        """
        values: dict[str, str] = {}
        for name in cls.model_fields:
            raw = environ.get(ENV_PREFIX + name.upper())
            if raw is not None and raw.strip() != "":
                values[name] = raw.strip()
        if "port" not in values and environ.get(FALLBACK_PORT_VARIABLE):
            values["port"] = environ[FALLBACK_PORT_VARIABLE]
        return cls.model_validate(values)
