"""Identity's processes declared once; ``ordo-identity`` runs the roles ``ORDO_ROLES`` names.

Roles: ``api`` (orgs, users, sessions, JWKS; ``ORDO_HTTP_PORT`` 8001) and ``relay`` (the outbox to
``identity.events``, and the housekeeping its spec declares). Both by default, in one
process on port 8001; each alone is also ``ordo-identity-<role>``, the relay on its own health port
(8101).
"""

from __future__ import annotations

from identity.adapters.persistence.tables import idempotency_keys, outbox
from identity.bootstrap import IdentitySettings, build_app
from shared.housekeeping import declare
from shared.process import ServiceSpec, run_service

SPEC = ServiceSpec(
    distribution="ordo-identity",
    settings=IdentitySettings,
    api=lambda settings, resources: build_app(settings, resources=resources),
    outbox=outbox,
    housekeeping=declare(outbox=outbox, idempotency_keys=idempotency_keys),
)


def main() -> None:
    """Run the roles of ``ORDO_ROLES`` (default: all) in one process until SIGTERM."""
    run_service(SPEC)


if __name__ == "__main__":
    main()
