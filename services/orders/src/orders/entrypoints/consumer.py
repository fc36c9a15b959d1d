"""Orders' saga consumer alone: ``ordo-orders-consumer`` (health on 8103).

What the role does and how it stops: ``orders.entrypoints.service``.
"""

from __future__ import annotations

from orders.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the consumer role alone until SIGTERM."""
    run_service(SPEC, roles="consumer")


if __name__ == "__main__":
    main()
