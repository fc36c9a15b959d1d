"""Orders' outbox relay alone: ``ordo-orders-relay`` (health on 8203).

What the role does and how it stops: ``orders.entrypoints.service``.
"""

from __future__ import annotations

from orders.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the relay role alone until SIGTERM."""
    run_service(SPEC, roles="relay")


if __name__ == "__main__":
    main()
