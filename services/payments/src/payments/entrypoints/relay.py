"""Payments' outbox relay alone: ``ordo-payments-relay`` (health on 8204).

What the role does and how it stops: ``payments.entrypoints.service``.
"""

from __future__ import annotations

from payments.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the relay role alone until SIGTERM."""
    run_service(SPEC, roles="relay")


if __name__ == "__main__":
    main()
