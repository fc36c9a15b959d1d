"""Fixtures for the image tests: podman with the project's configuration, free ports, polling."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "infra" / "images"
DATA = Path(os.environ.get("ORDO_DATA") or ROOT / ".data")
SERVICES_IMAGE = "localhost/ordo-services:latest"
FAKE_IMAGE = "localhost/ordo-fake-payment-provider:latest"
BASE_IMAGE = "localhost/ordo-debian:bookworm"


class Podman:
    """podman with infra/images/containers.conf; containers it started are removed at the end."""

    def __init__(self) -> None:
        self.env = {**os.environ, "CONTAINERS_CONF": str(IMAGES / "containers.conf")}
        self.started: list[str] = []

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        done = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: rc {done.returncode}\n{done.stderr}")
        return done.stdout.strip()

    def start(self, image: str, *args: str, command: tuple[str, ...] = ()) -> str:
        name = f"ordo-imagetest-{uuid.uuid4().hex[:10]}"
        self.run("run", "-d", "--name", name, *args, image, *command)
        self.started.append(name)
        return name

    def logs(self, name: str) -> str:
        return self.run("logs", name, check=False)

    def cleanup(self) -> None:
        for name in self.started:
            self.run("rm", "-f", "-t", "2", name, check=False)


def _engine_problem() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed (make images installs it)"
    probe = Podman()
    exists = subprocess.run(["podman", "image", "exists", BASE_IMAGE], env=probe.env, check=False)
    if exists.returncode != 0:
        return f"{BASE_IMAGE} is missing: no container engine could run when `make images` ran"
    done = subprocess.run(
        ["podman", "run", "--rm", "--network=none", BASE_IMAGE, "true"],
        env=probe.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        return f"no container engine can run here: {done.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def engine() -> None:
    """Skip (saying why) only where no container engine can run."""
    if problem := _engine_problem():
        pytest.skip(problem)


@pytest.fixture
def podman(engine: None) -> Iterator[Podman]:
    """A podman runner; the containers a test starts are removed after it."""
    runner = Podman()
    try:
        yield runner
    finally:
        runner.cleanup()


@pytest.fixture
def free_port() -> int:
    """A TCP port free on this host (never the shared stack's)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_http(
    url: str, deadline_s: float = 60, podman: Podman | None = None, name: str = ""
) -> httpx.Response:
    """GET ``url`` until it answers 200 or the deadline passes (then fail with the logs)."""
    end = time.monotonic() + deadline_s
    last: object = None
    while time.monotonic() < end:
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return answer
            last = answer.status_code
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.3)
    logs = podman.logs(name) if podman and name else ""
    raise AssertionError(f"{url} did not answer 200 in {deadline_s} s (last: {last})\n{logs}")
