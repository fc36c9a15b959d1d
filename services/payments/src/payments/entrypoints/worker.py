"""Payments' worker alone (the only role that calls the provider): ``ordo-payments-worker``
(health on 8304).

What the role does and how it stops: ``payments.entrypoints.service``.
"""

from __future__ import annotations

from payments.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the worker role alone until SIGTERM."""
    run_service(SPEC, roles="worker")


if __name__ == "__main__":
    main()
