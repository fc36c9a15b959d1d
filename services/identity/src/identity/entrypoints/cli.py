"""Identity's operator commands: ``ordo-identity-cli init-keys | rotate-keys | jwks``.

- ``init-keys``: create the key-encryption key secret (``signing_kek`` in ``ORDO_SECRETS_DIR``)
  if it is missing, then the first signing key if none is active. Safe to re-run.
- ``rotate-keys``: a new key signs from now on; the previous one stays in the JWKS until every
  token it signed has expired; keys retired before that window are deleted.
- ``jwks``: print the published JWKS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from identity.adapters.crypto.keys import generate_kek
from identity.bootstrap import IdentitySettings, build_use_cases
from shared.db import create_engine, create_session_factory
from shared.runtime import run
from shared.settings import default_secrets_dir


def _ensure_kek_file(folder: Path) -> bool:
    """Create ``folder/signing_kek`` (mode 0600) unless it exists; return True if created."""
    path = folder / "signing_kek"
    if path.exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_kek())
    return True


async def _run(command: str) -> None:
    settings = IdentitySettings()
    engine = create_engine(settings.database, application_name="identity-cli")
    try:
        use_cases = build_use_cases(settings, create_session_factory(engine))
        if command == "init-keys":
            kid = await use_cases.ensure_signing_key()
            print(f"active signing key: {kid}")
        elif command == "rotate-keys":
            rotation = await use_cases.rotate_signing_key()
            print(
                f"active signing key: {rotation.active_kid}; retired: {rotation.retired_kid}; "
                f"deleted: {rotation.deleted}"
            )
        else:
            print(json.dumps(await use_cases.get_jwks(), indent=2))
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the command."""
    parser = argparse.ArgumentParser(prog="ordo-identity-cli", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["init-keys", "rotate-keys", "jwks"])
    args = parser.parse_args(argv)
    if args.command == "init-keys" and _ensure_kek_file(default_secrets_dir()):
        print(f"created {default_secrets_dir() / 'signing_kek'}", file=sys.stderr)
    run(_run(args.command))


if __name__ == "__main__":
    main()
