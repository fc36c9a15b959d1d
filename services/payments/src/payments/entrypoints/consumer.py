"""Payments' saga consumer alone: ``ordo-payments-consumer`` (health on 8104).

What the role does and how it stops: ``payments.entrypoints.service``.
"""

from __future__ import annotations

from payments.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the consumer role alone until SIGTERM."""
    run_service(SPEC, roles="consumer")


if __name__ == "__main__":
    main()
