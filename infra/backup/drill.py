"""Restore drill: the latest backup into a scratch cluster, then migrations and invariants.

1. initdb a scratch cluster (own port, own data folder), start it;
2. restore the roles (globals.sql) and every database (pg_restore --create, 2 jobs);
3. check each service database's Alembic revision is its head, and run the invariant checks
   (infra/backup/checks.py);
4. print the recovery point (when the backup's snapshots were taken, and how old they were
   when the drill started) and the recovery time (from the start of the restore to the end of
   the checks), write them to <workdir>/report.json, stop the cluster and remove its data.

Usage: python infra/backup/drill.py [--backup DIR] [--port N] [--workdir DIR] [--keep]
Exit status 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))

import checks

REPO = checks.REPO
DATA = Path(os.environ.get("ORDO_DATA", REPO / ".data"))


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not found:
        raise SystemExit("no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1]


def _as_postgres(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # The server refuses to run as root: initdb and pg_ctl run as the postgres user.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *args], check=True, text=True, capture_output=True, **kwargs)  # noqa: S603


class Scratch:
    """A throwaway cluster on 127.0.0.1:``port`` with its data under ``home``."""

    def __init__(self, home: Path, port: int, password: str) -> None:
        self.home, self.port, self.password = home, port, password
        self.data = home / "data"
        self.bin = _bindir()

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        pwfile = self.home / "pwfile"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
            _traversable(self.home)
        pwfile.chmod(0o600)
        _as_postgres(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
        pwfile.unlink()
        # As infra/postgres/ctl.sh: the superuser anywhere, each role only its own database.
        (self.data / "pg_hba.conf").write_text(
            "host all postgres 127.0.0.1/32 scram-sha-256\n"
            "host sameuser all 127.0.0.1/32 scram-sha-256\n"
        )
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        _as_postgres(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.home / "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, *, remove: bool) -> None:
        if (self.data / "postmaster.pid").exists():
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]
            )
        if remove:
            shutil.rmtree(self.home, ignore_errors=True)

    def client(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = os.environ | {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": "postgres",
            "PGPASSWORD": self.password,
        }
        return subprocess.run(  # noqa: S603 - the server's own client tools
            [str(self.bin / tool), *args],
            env=env,
            text=True,
            capture_output=True,
            check=False,
        )


def _traversable(path: Path) -> None:
    # The postgres user must reach its data folder through ours (o+x only where missing).
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def restore(scratch: Scratch, backup: Path, manifest: dict[str, Any]) -> None:
    """Roles first (the databases' owners), then each database with its own CREATE DATABASE."""
    globals_sql = scratch.client(
        "psql", "-X", "-q", "-d", "postgres", "-f", str(backup / "globals.sql")
    )
    # The only expected complaint: the superuser the scratch cluster was created with.
    errors = [
        line
        for line in globals_sql.stderr.splitlines()
        if "ERROR" in line and 'role "postgres" already exists' not in line
    ]
    if errors:
        raise SystemExit("restoring roles failed:\n" + "\n".join(errors))
    for entry in manifest["databases"]:
        dump = backup / f"{entry['database']}.dump"
        result = scratch.client(
            "pg_restore", "--create", "--exit-on-error", "--jobs=2", "-d", "postgres", str(dump)
        )
        if result.returncode != 0:
            raise SystemExit(f"pg_restore {dump.name} failed:\n{result.stderr}")


async def verify(scratch: Scratch) -> list[dict[str, Any]]:
    """Every result, holding or not: migrations at head, then the invariant checks."""
    results: list[dict[str, Any]] = []

    async def connect(database: str) -> asyncpg.Connection:
        return await asyncpg.connect(
            host="127.0.0.1",
            port=scratch.port,
            user="postgres",
            password=scratch.password,
            database=database,
        )

    for database, heads in checks.migration_heads().items():
        conn = await connect(database)
        try:
            current = {
                r["version_num"]
                for r in await conn.fetch("SELECT version_num FROM alembic_version")
            }
        finally:
            await conn.close()
        results.append(
            {
                "database": database,
                "check": "migrations: alembic current == head",
                "ok": current == heads,
                "detail": f"current {sorted(current)}, head {sorted(heads)}",
            }
        )
    for check in checks.CHECKS:
        conn = await connect(check.database)
        try:
            broken = int(await conn.fetchval(check.sql))
        finally:
            await conn.close()
        results.append(
            {
                "database": check.database,
                "check": check.name,
                "ok": broken == 0,
                "detail": f"{broken} rows break it",
            }
        )
    return results


def superuser_password() -> str:
    """The local superuser's password: the scratch cluster's superuser gets the same one."""
    return (DATA / "secrets" / "postgres_superuser").read_text().strip()


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backup", type=Path, default=DATA / "backups" / "latest")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ORDO_DRILL_PORT", "25432")))
    parser.add_argument("--workdir", type=Path, default=DATA / "restore-drill")
    parser.add_argument("--keep", action="store_true", help="leave the scratch cluster running")
    args = parser.parse_args()
    backup = args.backup.resolve()
    if not (backup / "manifest.json").is_file():
        raise SystemExit(f"no backup at {args.backup}: run `make backup` first")
    manifest = json.loads((backup / "manifest.json").read_text())
    drill_started = datetime.now(UTC)
    scratch = Scratch(args.workdir / "cluster", args.port, superuser_password())
    scratch.stop(remove=True)  # what a previous, interrupted drill left
    t0 = time.monotonic()
    ok = False
    try:
        scratch.start()
        restore(scratch, backup, manifest)
        results = asyncio.run(verify(scratch))
        recovery_s = time.monotonic() - t0
        ok = all(r["ok"] for r in results)
    finally:
        if not args.keep:
            scratch.stop(remove=True)
    snapshots = [_parse(e["snapshot_at"]) for e in manifest["databases"]]
    report = {
        "backup": str(backup),
        "ok": ok,
        "recovery_point": {
            "oldest_snapshot_at": min(snapshots).isoformat(),
            "newest_snapshot_at": max(snapshots).isoformat(),
            "age_at_drill_s": round((drill_started - min(snapshots)).total_seconds(), 1),
        },
        "recovery_time_s": round(recovery_s, 1),
        "checks": results,
    }
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        print(f"  {'ok  ' if r['ok'] else 'FAIL'} {r['database']:<20} {r['check']} ({r['detail']})")
    rp = report["recovery_point"]
    print(
        f"recovery point: {rp['oldest_snapshot_at']} .. {rp['newest_snapshot_at']} "
        f"(data {rp['age_at_drill_s']} s old when the drill started)"
    )
    print(f"recovery time: {report['recovery_time_s']} s (scratch cluster, restore, checks)")
    print("restore drill: " + ("every check holds" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
