"""The provider's JSON shapes: what merchants send and what they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from payment_provider.config import OutageMode

AuthorizationStatus = Literal["authorized", "declined", "voided"]


class AuthorizationRequest(BaseModel):
    """``POST /v1/authorizations`` body; ``reference`` is the merchant's payment id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_minor: int = Field(gt=0, le=10**12, strict=True)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 alphabetic code")
    reference: str = Field(min_length=1, max_length=200)
    card_token: str | None = Field(default=None, min_length=1, max_length=200)


class AuthorizationOut(BaseModel):
    """An authorization as the provider reports it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    status: AuthorizationStatus
    amount_minor: int
    currency: str
    reference: str
    decline_code: str | None
    created_at: datetime
    voided_at: datetime | None


class AuthorizationList(BaseModel):
    """``GET /v1/authorizations`` answer, oldest first."""

    items: list[AuthorizationOut]
    count: int


class Behaviour(BaseModel):
    """Injected trouble, replaced whole by ``PUT /admin/behaviour`` (omitted fields are 0)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, le=60_000)
    jitter_ms: float = Field(default=0.0, ge=0, le=60_000)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_after_commit_rate: float = Field(default=0.0, ge=0, le=1)


class OutageRequest(BaseModel):
    """``POST /admin/outages`` body; ``mode`` defaults to the configured outage mode."""

    model_config = ConfigDict(extra="forbid")

    start_in_s: float = Field(default=0.0, ge=0, le=86_400)
    duration_s: float = Field(gt=0, le=86_400)
    mode: OutageMode | None = None


class OutageOut(BaseModel):
    """A scheduled or running outage window, in seconds relative to now."""

    id: str
    mode: OutageMode
    starts_in_s: float
    ends_in_s: float
    active: bool
