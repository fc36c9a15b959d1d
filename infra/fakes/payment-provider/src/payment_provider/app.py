"""The fake provider's app factory and its console script ``ordo-fake-payment-provider``."""

from __future__ import annotations

import os

import uvicorn
from fastapi import FastAPI

from payment_provider._admin import admin_router, health_router
from payment_provider._problems import install_problem_handlers
from payment_provider._provider import Provider
from payment_provider._v1 import router as v1_router
from payment_provider.config import ProviderConfig

DESCRIPTION = (
    "A FAKE payment provider for Ordo's local runs and tests; state is in memory only. "
    "Authorizations honour Idempotency-Key; /admin injects latency, errors and outages."
)


def create_app(config: ProviderConfig | None = None) -> FastAPI:
    """A new, independent fake provider: its own store, behaviour and random generator."""
    app = FastAPI(title="Ordo fake payment provider", version="0.1.0", description=DESCRIPTION)
    app.state.provider = Provider(config or ProviderConfig())
    install_problem_handlers(app)
    app.include_router(v1_router)
    app.include_router(admin_router)
    app.include_router(health_router)
    return app


def main() -> None:
    """Serve the fake with the ``PAYMENT_PROVIDER_*`` configuration until SIGTERM or SIGINT."""
    config = ProviderConfig.from_env(os.environ)
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
