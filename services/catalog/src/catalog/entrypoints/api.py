"""Catalog's HTTP process alone: ``ordo-catalog-api`` (``ORDO_HTTP_PORT`` 8002).

What the role does and how it stops: ``catalog.entrypoints.service``.
"""

from __future__ import annotations

from catalog.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the api role alone until SIGTERM."""
    run_service(SPEC, roles="api")


if __name__ == "__main__":
    main()
