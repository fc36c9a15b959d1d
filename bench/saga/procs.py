"""Which processes are the stack of ``make up``, as ``make bench-saga`` counts them.

Ours are the lines of infra/Procfile* (every layout: one process per role, or one per service
running all its roles), each running when its pid file in ``.data/run/`` names a live process
running that line's command; the servers are PostgreSQL (the postmaster), Kafka and Redis, from
their pid files. Read again at every snapshot: processes restarted meanwhile get new pids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SERVERS = ("postgres", "kafka", "redis")


def _pid_file(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class Process:
    """One line of a Procfile: a process of ours."""

    name: str
    service: str
    command: str

    @property
    def serves_api(self) -> bool:
        """Whether it serves its service's HTTP API (alone, or with every other role)."""
        return self.name in (self.service, f"{self.service}-api")


def procfiles(root: Path) -> dict[str, Process]:
    """Every process of every infra/Procfile* (the layouts: one process per role, or one per
    service), by name; which of them run is for the pid files to say."""
    found: dict[str, Process] = {}
    for path in sorted((root / "infra").glob("Procfile*")):
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 4 and not fields[0].startswith("#"):
                found.setdefault(fields[0], Process(fields[0], fields[1], fields[3]))
    return found


def _running(pid: int, command: str) -> bool:
    """Whether ``pid`` runs ``command`` (a stale pid file may name a reused pid or a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X") and any(
        arg.rsplit(b"/", 1)[-1] == command.encode() for arg in argv
    )


def api_processes(root: Path, services: tuple[str, ...]) -> dict[str, str]:
    """service -> the running process that serves its HTTP API (``orders-api``, or ``orders``
    when one process runs all of orders' roles)."""
    running = stack_pids(root)
    return {
        p.service: name
        for name, p in procfiles(root).items()
        if p.service in services and p.serves_api and name in running
    }


def data_dir(root: Path) -> Path:
    """The stack's data folder: ``$ORDO_DATA`` as infra/lib.sh reads it, else ``.data``."""
    return Path(os.environ.get("ORDO_DATA") or root / ".data")


def stack_pids(root: Path) -> dict[str, int]:
    """Label -> pid of every running process of ours and of the three servers."""
    run = data_dir(root) / "run"
    pids: dict[str, int] = {}
    for name, process in procfiles(root).items():
        pid = _pid_file(run / f"{name}.pid")
        if pid is not None and _running(pid, process.command):
            pids[name] = pid
    for name in SERVERS:
        pid = _pid_file(run / f"{name}.pid")
        if pid is None and name == "postgres":
            pid = _pid_file(data_dir(root) / "postgres" / "data" / "postmaster.pid")
        if pid is not None:
            pids[name] = pid
    return pids
