"""The provider's state for one app instance, and the dependency that hands it to routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from payment_provider._chaos import Chaos
from payment_provider._models import Behaviour
from payment_provider._store import AuthorizationStore
from payment_provider.config import ProviderConfig


def _chaos_for(config: ProviderConfig) -> Chaos:
    behaviour = Behaviour(
        latency_ms=config.latency_ms,
        jitter_ms=config.latency_jitter_ms,
        error_rate=config.error_rate,
        error_after_commit_rate=config.error_after_commit_rate,
    )
    return Chaos(behaviour, config.seed, config.outage_mode, config.hang_timeout_s)


@dataclass
class Provider:
    """Everything one fake provider holds: built per app by ``create_app``, never global."""

    config: ProviderConfig
    store: AuthorizationStore = field(default_factory=AuthorizationStore)
    chaos: Chaos = field(init=False)

    def __post_init__(self) -> None:
        self.chaos = _chaos_for(self.config)

    def reset(self) -> None:
        """Forget every authorization, key, outage and count; back to the start config."""
        self.store = AuthorizationStore()
        self.chaos = _chaos_for(self.config)


def _provider(request: Request) -> Provider:
    provider = request.app.state.provider
    if not isinstance(provider, Provider):  # pragma: no cover - create_app always sets it
        raise TypeError("app.state.provider is not a Provider; build the app with create_app")
    return provider


ProviderDep = Annotated[Provider, Depends(_provider)]


async def chaos_gate(provider: ProviderDep) -> None:
    """Router dependency for provider calls: outage, latency and pre-commit errors."""
    await provider.chaos.before()
