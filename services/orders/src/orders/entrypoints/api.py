"""Orders' HTTP process: ``ordo-orders-api`` (``ORDO_HTTP_PORT`` 8003), the split layout's API.

What the role does and how it stops: ``orders.entrypoints.service``.
"""

from __future__ import annotations

from orders.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the api role alone until SIGTERM."""
    run_service(SPEC, roles="api")


if __name__ == "__main__":
    main()
