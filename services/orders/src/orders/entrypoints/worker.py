"""Orders' deadline sweeper and key purge alone: ``ordo-orders-worker`` (health on 8303).

What the role does and how it stops: ``orders.entrypoints.service``.
"""

from __future__ import annotations

from orders.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the worker role alone until SIGTERM."""
    run_service(SPEC, roles="worker")


if __name__ == "__main__":
    main()
