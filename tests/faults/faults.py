"""The faults the suite injects into a stack it owns (run inside its network namespace).

Each fault is an async ``inject()`` that returns once the fault is over and the stack has been
given back what it lost (a killed process restarted, a stopped server started, the network
healed); the saga load runs throughout. Nothing here is safe on the shared stack: the suite
runs only inside the namespace tests/faults/in-netns.sh made.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess  # nosec B404: runs the project's own scripts and tc, fixed argument lists
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("ORDO_DATA", ROOT / ".data"))
BROKER_PORT = 19092
#: How long a supervisor (when one runs) gets to bring a killed process back by itself.
SUPERVISOR_GRACE_S = 5.0


def processes() -> dict[str, int]:
    """Ordo's own processes of the combined layout and their ports (infra/Procfile.combined),
    the fake payment provider left out: it stands for the outside world and keeps its record
    of authorisations in memory, which the money invariants read."""
    found: dict[str, int] = {}
    for line in (ROOT / "infra/Procfile.combined").read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#") and fields[0] != "payment-provider":
            found[fields[0]] = int(fields[2])
    return found


async def _sh(*argv: str, limit_s: float = 180.0) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), limit_s)
    if proc.returncode:
        tail = out.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {tail}")


def _pid(name: str) -> int | None:
    try:
        return int((DATA / "run" / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


async def _ready(port: int, seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    async with httpx.AsyncClient(timeout=2.0) as http:
        while asyncio.get_running_loop().time() < deadline:
            try:
                if (await http.get(f"http://127.0.0.1:{port}/health/ready")).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    return False


@dataclass(frozen=True)
class Fault:
    """A named fault: ``inject`` runs it to its end (recovery included)."""

    name: str
    inject: Callable[[], Awaitable[None]]


def kill9(name: str, port: int) -> Fault:
    """SIGKILL the process; a supervisor may restart it, else infra/services.sh does."""

    async def inject() -> None:
        pid = _pid(name)
        if pid is None:
            raise RuntimeError(f"no pid file for {name}")
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(SUPERVISOR_GRACE_S)
        if _pid(name) == pid or not await _ready(port, 1.0):
            await _sh("infra/services.sh", "start", name)
        if not await _ready(port, 60.0):
            raise RuntimeError(f"{name} did not come back ready")

    return Fault(f"kill9:{name}", inject)


def server_restart(server: str, down_s: float) -> Fault:
    """Stop a server (infra/<server>/ctl.sh stop), keep it down ``down_s``, start it again
    (waiting up to 5 minutes for it: a loaded machine restarts Kafka slowly)."""

    async def inject() -> None:
        await _sh(f"infra/{server}/ctl.sh", "stop")
        await asyncio.sleep(down_s)
        try:
            await _sh(f"infra/{server}/ctl.sh", "up")
        except RuntimeError:
            await _sh(f"infra/{server}/ctl.sh", "wait", "300", limit_s=320.0)

    return Fault(f"restart:{server}:{down_s:.0f}s", inject)


def _broker_rules(action: str, probability: float) -> list[list[str]]:
    return [
        ["iptables", action, "INPUT", "-p", "tcp", way, str(BROKER_PORT), "-m", "statistic",
         "--mode", "random", "--probability", str(probability), "-j", "DROP"]
        for way in ("--dport", "--sport")
    ]  # fmt: skip


def broker_loss(probability: float, seconds: float) -> Fault:
    """Drop that share of the packets to and from the broker port, for ``seconds`` (iptables'
    random match): every client of the broker sees loss and TCP retransmission delays."""

    async def inject() -> None:
        for rule in _broker_rules("-I", probability):
            await _sh(*rule, limit_s=10.0)
        try:
            await asyncio.sleep(seconds)
        finally:
            for rule in _broker_rules("-D", probability):
                await _sh(*rule, limit_s=10.0)

    return Fault(f"loss:broker:{probability:.0%}:{seconds:.0f}s", inject)


def broker_throttle(rate: str, seconds: float) -> Fault:
    """Shape the traffic to and from the broker port to ``rate`` (tc htb; this kernel has no
    netem): a slow link, whose queue adds latency to every fetch, produce and commit."""

    async def inject() -> None:
        await _tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10")
        try:
            await _tc(
                "class",
                "add",
                "dev",
                "lo",
                "parent",
                "1:",
                "classid",
                "1:10",
                "htb",
                "rate",
                "10gbit",
            )
            await _tc(
                "class", "add", "dev", "lo", "parent", "1:", "classid", "1:30", "htb", "rate", rate
            )
            for way in ("dport", "sport"):
                await _tc(
                    "filter",
                    "add",
                    "dev",
                    "lo",
                    "parent",
                    "1:",
                    "protocol",
                    "ip",
                    "prio",
                    "1",
                    "u32",
                    "match",
                    "ip",
                    way,
                    str(BROKER_PORT),
                    "0xffff",
                    "flowid",
                    "1:30",
                )
            await asyncio.sleep(seconds)
        finally:
            await _tc("qdisc", "del", "dev", "lo", "root")

    return Fault(f"throttle:broker:{rate}:{seconds:.0f}s", inject)  # fmt: skip


async def _tc(*argv: str) -> None:
    await _sh("tc", *argv, limit_s=10.0)


def all_faults() -> list[Fault]:
    """The suite, in order: each process killed, each server restarted, the broker lossy, then
    slow (tc netem is not in this kernel: loss by iptables, latency by an htb-shaped link)."""
    faults = [kill9(name, port) for name, port in processes().items()]
    faults += [server_restart(s, 10.0) for s in ("kafka", "postgres", "redis")]
    faults += [broker_loss(0.1, 20.0), broker_throttle("256kbit", 20.0)]
    return faults
