"""``ordo keys rotate | list``: identity's access-token signing keys.

Rotation is identity's own use case (``RotateSigningKey``), run through identity's operator
command ``ordo-identity-cli`` with the environment ``infra/services.sh`` gives identity's
processes (its database and its key-encryption key in ``<data>/secrets/identity``): a new key
signs from now on, the previous one stays in the JWKS until every token it signed has expired,
and keys retired longer ago are deleted. Services verify tokens against the JWKS and fetch it
again when a token names a key they have not seen, so nothing needs a restart.
"""

from __future__ import annotations

import json
import os
import re

# subprocess runs identity's own console script with fixed arguments, no shell.
import subprocess  # nosec B404
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import typer
from rich.console import Console
from rich.table import Table

from ordo_ops.stack import Stack

__all__ = ["Rotation", "keys_app", "published_kids", "rotate"]

keys_app = typer.Typer(help="Identity's token signing keys.", no_args_is_help=True)
console = Console()

_ROTATED = re.compile(
    r"active signing key: (?P<active>\S+); retired: (?P<retired>\S+); deleted: (?P<deleted>\d+)"
)
_TIMEOUT_S = 60

DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        envvar="ORDO_OPS_IDENTITY_DATABASE_URL",
        help="identity's database (postgresql://user:pass@host:port/name) instead of the stack's",
    ),
]
SecretsOpt = Annotated[
    Path | None,
    typer.Option(help="identity's secrets folder (signing_kek) instead of the stack's"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a rotation did (``ordo keys list`` shows what the JWKS publishes then)."""

    active_kid: str
    retired_kid: str | None
    deleted: int


def _environment(stack: Stack, database_url: str | None, secrets: Path | None) -> dict[str, str]:
    """Identity's environment as infra/services.sh sets it, or the given database and secrets."""
    env = dict(os.environ)
    env["ORDO_SECRETS_DIR"] = str(secrets or stack.data / "secrets" / "identity")
    env["ORDO_DATABASE__PORT"] = str(stack.pg_port)
    if database_url:
        parts = urlsplit(database_url)
        env.update(
            {
                "ORDO_DATABASE__HOST": parts.hostname or "127.0.0.1",
                "ORDO_DATABASE__PORT": str(parts.port or 5432),
                "ORDO_DATABASE__NAME": parts.path.lstrip("/"),
                "ORDO_DATABASE__USER": unquote(parts.username or ""),
                "ORDO_DATABASE__PASSWORD": unquote(parts.password or ""),
            }
        )
    return env


def _identity_cli(command: str, env: dict[str, str]) -> str:
    """Run ``ordo-identity-cli COMMAND``; its stdout (exit 1 with its stderr on failure)."""
    script = Path(sys.executable).parent / "ordo-identity-cli"
    result = subprocess.run(  # noqa: S603 # nosec B603
        [str(script), command],
        env=env,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        console.print(f"[red]ordo-identity-cli {command} failed[/]\n{result.stderr[-2000:]}")
        raise typer.Exit(1)
    return result.stdout


def published_kids(env: dict[str, str]) -> list[str]:
    """The key ids identity's JWKS publishes now."""
    jwks = json.loads(_identity_cli("jwks", env))
    return [str(key["kid"]) for key in jwks.get("keys", [])]


def rotate(env: dict[str, str]) -> Rotation:
    """Rotate identity's signing key; what changed."""
    out = _identity_cli("rotate-keys", env)
    match = _ROTATED.search(out)
    if match is None:
        console.print(f"[red]unexpected answer from ordo-identity-cli:[/] {out.strip()}")
        raise typer.Exit(1)
    retired = match["retired"]
    return Rotation(
        active_kid=match["active"],
        retired_kid=None if retired == "None" else retired,
        deleted=int(match["deleted"]),
    )


@keys_app.command("rotate")
def rotate_command(
    database_url: DatabaseUrlOpt = None,
    secrets_dir: SecretsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rotate the signing key: a new one signs; the previous one stays published until the
    tokens it signed have expired; keys retired before that are deleted."""
    env = _environment(Stack.discover(), database_url, secrets_dir)
    rotation = rotate(env)
    if as_json:
        print(json.dumps(asdict(rotation)))
        return
    console.print(
        f"[green]rotated[/]: {rotation.active_kid} signs from now on "
        f"(retired: {rotation.retired_kid or '-'}, still published until the tokens it signed "
        f"expire; deleted: {rotation.deleted})"
    )


@keys_app.command("list")
def list_command(
    database_url: DatabaseUrlOpt = None,
    secrets_dir: SecretsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The key ids the JWKS publishes (the signing key and those still verifying tokens)."""
    kids = published_kids(_environment(Stack.discover(), database_url, secrets_dir))
    if as_json:
        print(json.dumps({"published": kids}))
        return
    _print_kids(kids)


def _print_kids(kids: list[str]) -> None:
    table = Table("kid", title="published in the JWKS")
    for kid in kids:
        table.add_row(kid)
    console.print(table)
