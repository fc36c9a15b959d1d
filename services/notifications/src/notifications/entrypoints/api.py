"""Notifications' HTTP process alone: ``ordo-notifications-api`` (``ORDO_HTTP_PORT`` 8005).

What the role does and how it stops: ``notifications.entrypoints.service``.
"""

from __future__ import annotations

from notifications.entrypoints.service import SPEC
from shared.process import run_service


def main() -> None:
    """Run the api role alone until SIGTERM."""
    run_service(SPEC, roles="api")


if __name__ == "__main__":
    main()
