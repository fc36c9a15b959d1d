"""CPU accounting of the local stack from /proc, for ``make bench-saga``.

What is counted, by label:
- each process of ours (procs.py), ``kafka`` (the broker JVM, all its threads), ``redis``;
- PostgreSQL, the postmaster's whole tree: ``postgres[<client>]`` for the backends serving one
  client process (matched by the backend's client port to the process owning that socket),
  ``postgres[db <name>]`` for backends of the stack's databases whose client was not found,
  ``other: postgres[db <name>]`` for backends of other databases (tests of other sessions: not
  counted as the stack), ``postgres: background`` for the postmaster and its auxiliary
  processes (checkpointer, walwriter, autovacuum, ...), and ``postgres: exited backends`` for
  the CPU that backends which exited during the window used in it (the growth of the
  postmaster's cutime+cstime, less what those backends had used before the window started);
- extra roots given by the caller (the bare server, the benchmark itself), not part of the stack.

A process is identified by (pid, start time), so a restart between two snapshots is noticed
(its CPU before it died is lost: reported as a warning) and pid reuse cannot mix two processes.
"""

from __future__ import annotations

import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import procs

MS_PER_TICK = 1000 / os.sysconf("SC_CLK_TCK")
#: Owners that are not the stack: the bare baseline, the load generator, other databases' clients.
OUTSIDE = ("bare", "bench", "other")
BACKGROUND = "postgres: background"
EXITED = "postgres: exited backends"
#: A backend's title: "postgres: <user> <database> <host>(<port>) <state>", or "[local]".
_BACKEND = re.compile(r"^postgres: \S+ (\S+) (?:\[local\]|\S*\((\d+)\))")

Ident = tuple[int, int]  # (pid, start time in ticks since boot)


@dataclass(frozen=True, slots=True)
class ProcStat:
    """The fields of /proc/<pid>/stat this module needs."""

    pid: int
    start: int
    ticks: int  # utime + stime
    child_ticks: int  # cutime + cstime: waited-for children, recursively

    @property
    def ident(self) -> Ident:
        return (self.pid, self.start)


def read_stat(pid: int) -> ProcStat | None:
    """/proc/<pid>/stat, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    rest = text[text.rindex(")") + 2 :].split()
    utime, stime, cutime, cstime = (int(v) for v in rest[11:15])
    return ProcStat(pid, int(rest[19]), utime + stime, cutime + cstime)


def children(pid: int) -> list[int]:
    """The live children of a single-threaded process (the postmaster)."""
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _tcp_ports_by_inode() -> dict[int, int]:
    ports: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            ports[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return ports


def _machine_busy() -> int:
    """Ticks the machine's CPUs spent busy (not idle, not waiting for IO) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def _all_local_ports(ports_by_inode: dict[int, int]) -> dict[int, int]:
    """local port -> pid, over every process of the machine."""
    found: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found.update(dict.fromkeys(_local_ports(int(entry), ports_by_inode), int(entry)))
    return found


def _local_ports(pid: int, ports_by_inode: dict[int, int]) -> set[int]:
    found: set[int] = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            port = ports_by_inode.get(int(link[8:-1]))
            if port is not None:
                found.add(port)
    return found


@dataclass
class Snapshot:
    """Cumulative CPU ticks of every counted process at one moment."""

    t: float
    ticks: dict[Ident, int] = field(default_factory=dict)
    labels: dict[Ident, str] = field(default_factory=dict)
    roots: dict[str, Ident] = field(default_factory=dict)
    pg_children: set[Ident] = field(default_factory=set)
    pg_reaped: int = 0
    machine: int = 0  # busy ticks of all CPUs


@dataclass
class Usage:
    """CPU used between two snapshots: milliseconds by label, and what could not be counted."""

    seconds: float
    ms: dict[str, float]
    warnings: list[str]
    machine_ms: float = 0.0

    def foreign_rate(self) -> float:
        """ms/s of CPU used by processes that are neither the stack nor this benchmark's
        (other sessions' tests, builds, ...): how noisy the window was."""
        ours = sum(v for label, v in self.ms.items() if cpu_owner_is_ours(label))
        return (self.machine_ms - ours) / self.seconds

    def rate(self) -> dict[str, float]:
        """ms of CPU per second of wall time, by label."""
        return {label: ms / self.seconds for label, ms in self.ms.items()}


class Accountant:
    """Takes snapshots of the stack (re-reading its pid files each time) and extra processes."""

    def __init__(self, root: Path, extra: dict[str, int] | None = None) -> None:
        self.root = root
        self.extra = dict(extra or {})
        self._backend_labels: dict[Ident, str] = {}
        self._unmatched: dict[Ident, str] = {}
        services = {process.service for process in procs.procfiles(root).values()}
        self._databases = {f"ordo_{service}".replace("-", "_") for service in services}

    def snapshot(self) -> Snapshot:
        pids = {**procs.stack_pids(self.root), **self.extra}
        snap = Snapshot(time.monotonic(), machine=_machine_busy())
        for label, pid in pids.items():
            if label == "postgres":
                self._postgres(pid, snap, pids)
                continue
            stat = read_stat(pid)
            if stat is not None:
                snap.ticks[stat.ident] = stat.ticks + stat.child_ticks
                snap.labels[stat.ident] = label
                snap.roots[label] = stat.ident
        return snap

    def _postgres(self, pid: int, snap: Snapshot, pids: dict[str, int]) -> None:
        # A backend that exits between reading the postmaster and reading the backends would be
        # counted twice or not at all: read again until the postmaster's reaped total holds.
        for _ in range(5):
            before = read_stat(pid)
            if before is None:
                return
            stats = [s for s in (read_stat(c) for c in children(pid)) if s is not None]
            after = read_stat(pid)
            if after is not None and after.child_ticks == before.child_ticks:
                break
        if after is None:
            return
        snap.roots["postgres"] = after.ident
        snap.ticks[after.ident] = after.ticks
        snap.labels[after.ident] = BACKGROUND
        snap.pg_reaped = after.child_ticks
        unlabelled = [s for s in stats if s.ident not in self._backend_labels]
        if unlabelled:
            self._label_backends(unlabelled, pids)
        for stat in stats:
            snap.ticks[stat.ident] = stat.ticks + stat.child_ticks
            label = self._backend_labels.get(stat.ident) or self._unmatched[stat.ident]
            snap.labels[stat.ident] = label
            snap.pg_children.add(stat.ident)

    def _label_backends(self, stats: list[ProcStat], pids: dict[str, int]) -> None:
        by_inode = _tcp_ports_by_inode()
        owner: dict[int, str] = {}
        for label, pid in pids.items():
            if label not in procs.SERVERS:
                owner.update(dict.fromkeys(_local_ports(pid, by_inode), label))
        anyone: dict[int, int] | None = None  # every process's ports, read when needed
        for stat in stats:
            match = _BACKEND.match(_title(stat.pid))
            if match is None:
                self._backend_labels[stat.ident] = BACKGROUND
                continue
            db, port = match.group(1), int(match.group(2) or 0)
            if port in owner:
                self._backend_labels[stat.ident] = f"postgres[{owner[port]}]"
                continue
            if anyone is None:
                anyone = _all_local_ports(by_inode)
            if port in anyone or db not in self._databases:
                # A client that is not ours: another session's tests or tools.
                self._backend_labels[stat.ident] = f"other: postgres[db {db}]"
            else:  # not remembered: its client may be ours but not in its pid file yet
                self._unmatched[stat.ident] = f"postgres[db {db}]"


def usage(a: Snapshot, b: Snapshot) -> Usage:
    """The CPU each label used from ``a`` to ``b``."""
    ms: dict[str, float] = defaultdict(float)
    warnings: list[str] = []
    for ident, ticks in b.ticks.items():
        ms[b.labels[ident]] += (ticks - a.ticks.get(ident, 0)) * MS_PER_TICK
    for label, ident in a.roots.items():
        if b.roots.get(label) != ident:
            warnings.append(f"{label} restarted or stopped during the window: its CPU is partial")
    if a.roots.get("postgres") == b.roots.get("postgres") and "postgres" in a.roots:
        gone = sum(a.ticks[i] for i in a.pg_children if i not in b.ticks)
        ms[EXITED] += (b.pg_reaped - a.pg_reaped - gone) * MS_PER_TICK
    return Usage(b.t - a.t, dict(ms), warnings, (b.machine - a.machine) * MS_PER_TICK)


def marginal(used: Usage, idle_rate: dict[str, float]) -> dict[str, float]:
    """ms by label less what the idle stack uses in as long (not clamped: noise shows)."""
    labels = set(used.ms) | {label for label in idle_rate if label not in OUTSIDE}
    return {
        label: used.ms.get(label, 0.0) - idle_rate.get(label, 0.0) * used.seconds
        for label in labels
    }


def owner_of(label: str) -> str:
    """The process a label's CPU is for: ``postgres[orders-api]`` -> ``orders-api``."""
    if label.startswith("other: "):
        return "other"
    if label.startswith("postgres[") and not label.startswith("postgres[db "):
        return label[len("postgres[") : -1]
    return label


def cpu_owner_is_ours(label: str) -> bool:
    """The stack, the bare baseline or the load generator (not another session's)."""
    return owner_of(label) != "other"


def in_stack(label: str) -> bool:
    """Whether the label is part of the stack (not the bare baseline or the load generator)."""
    return owner_of(label) not in OUTSIDE


def stack_ms(ms: dict[str, float]) -> float:
    return sum(v for label, v in ms.items() if in_stack(label))


def sum_for(ms: dict[str, float], processes: tuple[str, ...], *, backends: bool = True) -> float:
    """ms of the given processes, with the PostgreSQL backends serving them when ``backends``."""
    return sum(
        v
        for label, v in ms.items()
        if owner_of(label) in processes and (backends or label == owner_of(label))
    )
