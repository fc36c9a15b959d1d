"""The gateway's process declared once: ``ordo-gateway`` (its one role, ``api``, on 8000).

The public ``/v1`` API; the gateway owns no outbox, consumes nothing and runs no worker, so
its process is the same in every layout. ``ordo-gateway-api`` is the same process.
"""

from __future__ import annotations

from gateway.bootstrap import GatewaySettings, build_app
from shared.process import ServiceSpec, run_service

SPEC = ServiceSpec(
    distribution="ordo-gateway",
    settings=GatewaySettings,
    api=lambda settings, _resources: build_app(settings),
)


def main() -> None:
    """Serve the public API until SIGTERM."""
    run_service(SPEC)


if __name__ == "__main__":
    main()
