"""Identity's outbox relay alone: ``ordo-identity-relay`` (health on 8101).

What the role does and how it stops: ``identity.entrypoints.service``.
"""

from __future__ import annotations

from identity.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the relay role alone until SIGTERM."""
    run_service(SPEC, roles="relay")


if __name__ == "__main__":
    main()
