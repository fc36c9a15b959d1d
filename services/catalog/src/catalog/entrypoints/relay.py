"""Catalog's outbox relay alone: ``ordo-catalog-relay`` (health on 8202).

What the role does and how it stops: ``catalog.entrypoints.service``.
"""

from __future__ import annotations

from catalog.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the relay role alone until SIGTERM."""
    run_service(SPEC, roles="relay")


if __name__ == "__main__":
    main()
