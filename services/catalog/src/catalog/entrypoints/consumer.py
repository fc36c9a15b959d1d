"""Catalog's saga consumer alone: ``ordo-catalog-consumer`` (health on 8102).

What the role does and how it stops: ``catalog.entrypoints.service``.
"""

from __future__ import annotations

from catalog.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the consumer role alone until SIGTERM."""
    run_service(SPEC, roles="consumer")


if __name__ == "__main__":
    main()
