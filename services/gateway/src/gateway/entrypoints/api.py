"""The gateway's HTTP process: ``ordo-gateway-api`` (the same as ``ordo-gateway``)."""

from __future__ import annotations

from gateway.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Serve the public API until SIGTERM."""
    run_service(SPEC, roles="api")


if __name__ == "__main__":
    main()
