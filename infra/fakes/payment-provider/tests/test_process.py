"""The real console script: serves over HTTP on its port and stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

SCRIPT = Path(sys.executable).with_name("ordo-fake-payment-provider")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """The console script on a free port; killed at teardown if the test left it running."""
    assert SCRIPT.exists(), f"{SCRIPT} missing: run uv sync --frozen"
    port = free_port()
    log = tmp_path / "provider.log"
    env = {**os.environ, "PAYMENT_PROVIDER_PORT": str(port), "PAYMENT_PROVIDER_LOG_LEVEL": "info"}
    env.pop("ORDO_HTTP_PORT", None)
    with log.open("wb") as out:
        process = subprocess.Popen([str(SCRIPT)], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process, port, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def test_console_script_serves_and_stops_on_sigterm(
    served: tuple[subprocess.Popen[bytes], int, Path],
) -> None:
    process, port, log = served
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)

        body = {"amount_minor": 500, "currency": "USD", "reference": "proc"}
        headers = {"Idempotency-Key": "proc-1"}
        created = await client.post("/v1/authorizations", json=body, headers=headers)
        replayed = await client.post("/v1/authorizations", json=body, headers=headers)
        assert created.status_code == 201
        assert replayed.status_code == 200
        assert replayed.json() == created.json()

    process.send_signal(signal.SIGTERM)
    returncode = await asyncio.to_thread(process.wait, 15)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, as a process should.
    assert returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Application shutdown complete" in log.read_text()
