"""A process of the local stack killed with SIGKILL comes back ready by itself, in either layout.

The stack is the test's own: PostgreSQL, Redis, Kafka and the services run in a network
namespace (its own loopback, so the usual ports are free) with their own ORDO_DATA, started
and stopped by the project's scripts, never the shared stack. The time from SIGKILL to ready
again is printed for each process (a figure to read, not an assertion: the target, 10 s, is
a benchmark). Needs root (ip netns) and the servers `make up` installs.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMBINED = ["gateway", "identity", "catalog", "payment-provider", "orders", "payments"]
COMBINED += ["notifications"]
SPLIT_ROLES = ["orders-api", "orders-consumer", "orders-relay", "orders-worker"]

pytestmark = [
    pytest.mark.integration,
    # A stack of its own starts in 1-3 min on a loaded machine, then 11 kills and restarts.
    pytest.mark.timeout(1200),
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and ip"),
]


class NamespacedStack:
    """A stack of the test's own in network namespace ``ns`` with data in ``data``."""

    def __init__(self, ns: str, data: Path) -> None:
        self.ns = ns
        self.data = data

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (paths relative to the checkout) inside the namespace; fail on error."""
        env = os.environ | {"ORDO_DATA": str(self.data)}
        env.pop("ORDO_LAYOUT", None)
        done = subprocess.run(  # noqa: S603 - fixed commands of our own
            ["ip", "netns", "exec", self.ns, *argv],  # noqa: S607 - ip from PATH, as root
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"{argv}: {done.stderr[-3000:]}"
        return done

    def state(self, name: str) -> dict[str, Any]:
        """The supervisor's state file of process ``name`` ({} while it is being written)."""
        try:
            loaded: dict[str, Any] = json.loads((self.data / "run" / f"{name}.state").read_text())
        except (OSError, ValueError):
            return {}
        return loaded

    def kill_and_wait(self, name: str) -> float:
        """SIGKILL ``name``'s process; seconds until its supervisor saw the new one ready."""
        # `services.sh start` returns once the port answers; the supervisor's own readiness
        # probe may record it a moment later.
        until = time.monotonic() + 60
        while (before := self.state(name)).get("state") != "ready" and time.monotonic() < until:
            time.sleep(0.05)
        assert before.get("state") == "ready", before
        os.kill(before["child_pid"], signal.SIGKILL)
        killed = time.monotonic()
        deadline = killed + 120
        while time.monotonic() < deadline:
            now = self.state(name)
            if now.get("restarts", 0) > before["restarts"] and now.get("state") == "ready":
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"{name} not ready again 120 s after SIGKILL: {self.state(name)}")
        back = time.monotonic() - killed
        assert now["child_pid"] != before["child_pid"]
        status = self.run("infra/services.sh", "status", name).stdout
        assert " ready " in status, status
        assert f"{now['restarts']} restarts" in status, status
        return back


@pytest.fixture(scope="module")
def stack() -> Iterator[NamespacedStack]:
    ns = f"ordo-restarts-{uuid.uuid4().hex[:8]}"
    data = ROOT / ".data" / ns
    subprocess.run(["ip", "netns", "add", ns], check=True)  # noqa: S607
    subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)  # noqa: S607
    stack = NamespacedStack(ns, data)
    try:
        for argv in (
            ["infra/postgres/ctl.sh", "up"],
            ["infra/redis/ctl.sh", "up"],
            ["infra/kafka/ctl.sh", "up"],
            ["infra/kafka/ctl.sh", "topics"],
            ["infra/services.sh", "migrate"],
        ):
            stack.run(*argv)
        yield stack
    finally:
        for argv in (
            ["infra/services.sh", "stop"],
            ["infra/kafka/ctl.sh", "stop"],
            ["infra/redis/ctl.sh", "stop"],
            ["infra/postgres/ctl.sh", "stop"],
        ):
            subprocess.run(  # noqa: S603
                ["ip", "netns", "exec", ns, *argv],  # noqa: S607
                cwd=ROOT,
                env=os.environ | {"ORDO_DATA": str(data)},
                capture_output=True,
                timeout=120,
                check=False,
            )
        subprocess.run(["ip", "netns", "delete", ns], check=False)  # noqa: S607
        shutil.rmtree(data, ignore_errors=True)


def test_every_process_and_role_is_ready_again_after_sigkill(stack: NamespacedStack) -> None:
    """Combined layout: each service's process; split layout: orders' four roles apart."""
    stack.run("infra/services.sh", "start")
    times = {name: stack.kill_and_wait(name) for name in COMBINED}
    stack.run("infra/services.sh", "start", *SPLIT_ROLES)  # switches orders to the split layout
    times |= {name: stack.kill_and_wait(name) for name in SPLIT_ROLES}
    report = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
    print(f"SIGKILL -> ready again: {report}")  # noqa: T201 - the measured figures
    log = (stack.data / "logs" / "orders-consumer.log").read_text()
    assert '"exit": "killed by SIGKILL"' in log  # the restart is in the process's log
