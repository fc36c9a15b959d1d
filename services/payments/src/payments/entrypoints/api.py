"""Payments' HTTP process alone: ``ordo-payments-api`` (``ORDO_HTTP_PORT`` 8004).

What the role does and how it stops: ``payments.entrypoints.service``.
"""

from __future__ import annotations

from payments.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the api role alone until SIGTERM."""
    run_service(SPEC, roles="api")


if __name__ == "__main__":
    main()
