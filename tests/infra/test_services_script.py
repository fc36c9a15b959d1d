"""infra/lib.sh and infra/services.sh: liveness from pid files, the two layouts, supervision."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def bash(script: str, data: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with infra/lib.sh sourced, on a data folder of the test's own."""
    env = os.environ | {"ORDO_DATA": str(data)}
    return subprocess.run(  # noqa: S603 - a fixed interpreter and our own script
        ["/bin/bash", "-c", f"source {ROOT}/infra/lib.sh\n{script}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_killed_process_left_as_a_zombie_is_not_reported_running(tmp_path: Path) -> None:
    pidfile = tmp_path / "zombie.pid"
    # The child exits at once; its parent (exec'd into a sleep) never reaps it: a zombie, which
    # `kill -0` still finds, as it finds a process killed with SIGKILL whose reaper is slow.
    parent = subprocess.Popen(  # noqa: S603
        ["/bin/bash", "-c", f"(true & echo $! > {pidfile}; exec sleep 5)"]
    )
    try:
        deadline = time.monotonic() + 5
        while not (pidfile.exists() and pidfile.read_text().strip()):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        pid = pidfile.read_text().strip()
        while not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        checked = bash(
            f"kill -0 {pid} && echo signalable; pid_alive {pidfile} && echo alive || echo dead",
            tmp_path,
        )
    finally:
        parent.kill()
        parent.wait()
    assert checked.stdout.split() == ["signalable", "dead"], checked.stderr


def test_a_pid_file_naming_another_command_is_not_ours(tmp_path: Path) -> None:
    pidfile = tmp_path / "reused.pid"
    pidfile.write_text(str(os.getpid()))  # a live process, but not the command asked for
    checked = bash(
        f"pid_alive {pidfile} && echo alive; pid_alive {pidfile} ordo-orders || echo other",
        tmp_path,
    )
    assert checked.stdout.split() == ["alive", "other"], checked.stderr


def services(data: Path, *args: str, layout: str | None = None) -> subprocess.CompletedProcess[str]:
    """``infra/services.sh ARGS`` on an empty data folder (nothing runs)."""
    env = os.environ | {"ORDO_DATA": str(data)}
    env.pop("ORDO_LAYOUT", None)
    if layout is not None:
        env["ORDO_LAYOUT"] = layout
    return subprocess.run(  # noqa: S603
        [str(ROOT / "infra/services.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("layout", "names"),
    [
        (
            "combined",
            ["gateway", "identity", "catalog", "payment-provider", "orders", "payments"]
            + ["notifications"],
        ),
        ("split", ["gateway-api", "identity-api", "identity-relay", "catalog-api"]),
    ],
)
def test_status_lists_the_chosen_layout(tmp_path: Path, layout: str, names: list[str]) -> None:
    answer = services(tmp_path, "status", layout=layout)
    listed = [line.split()[0] for line in answer.stdout.splitlines()]
    assert answer.returncode == 0, answer.stderr
    assert listed[: len(names)] == names
    assert all(" down " in line and line.endswith(layout) for line in answer.stdout.splitlines())


def test_names_come_from_either_layout_and_unknown_ones_fail(tmp_path: Path) -> None:
    both = services(tmp_path, "status", "orders", "orders-consumer")
    assert [line.split()[0] for line in both.stdout.splitlines()] == ["orders", "orders-consumer"]
    unknown = services(tmp_path, "status", "orders-sidecar")
    assert unknown.returncode == 1
    assert "no process named 'orders-sidecar'" in unknown.stderr
    assert services(tmp_path, "status", layout="sideways").returncode == 1


def test_every_service_has_one_combined_process_on_its_api_port() -> None:
    def lines(layout: str) -> list[list[str]]:
        text = (ROOT / f"infra/Procfile.{layout}").read_text()
        return [line.split() for line in text.splitlines() if line and not line.startswith("#")]

    combined = {svc: (port, cmd) for _, svc, port, cmd in lines("combined")}
    split_apis = {
        svc: port for name, svc, port, _ in lines("split") if name.endswith("-api") or name == svc
    }
    assert {svc for _, svc, _, _ in lines("split")} == set(combined)
    for svc, port in split_apis.items():
        assert combined[svc][0] == port  # the same API port in both layouts


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="needs root and ip")
def test_start_supervises_and_stop_leaves_nothing(tmp_path: Path) -> None:
    """services.sh on the fake provider (no servers needed), in a network namespace of its own
    so its port is free: NAME.pid is the process, SIGKILL brings a new one, stop ends both."""
    ns = f"ordo-svc-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)  # noqa: S607
    subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)  # noqa: S607
    run = tmp_path / "run"

    def services_in_ns(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            ["ip", "netns", "exec", ns, str(ROOT / "infra/services.sh"), *args],  # noqa: S607
            env=os.environ | {"ORDO_DATA": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    try:
        assert services_in_ns("start", "payment-provider").returncode == 0
        supervisor = int((run / "supervisors/payment-provider.pid").read_text())
        first = int((run / "payment-provider.pid").read_text())
        assert first != supervisor
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while " 1 restarts" not in (status := services_in_ns("status", "payment-provider").stdout):
            assert time.monotonic() < deadline, status
            time.sleep(0.1)
        assert "killed by SIGKILL" in status
        assert " ready " in status
        assert int((run / "payment-provider.pid").read_text()) != first
        assert services_in_ns("stop", "payment-provider").returncode == 0
        assert not (run / "payment-provider.pid").exists()
        assert not (run / "supervisors/payment-provider.pid").exists()
        assert " down " in services_in_ns("status", "payment-provider").stdout
    finally:
        services_in_ns("stop")
        subprocess.run(["ip", "netns", "delete", ns], check=False)  # noqa: S607
