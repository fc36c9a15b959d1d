"""A process under serve_with_worker finishes its worker after SIGTERM and exits 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time

import httpx

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from fastapi import FastAPI
    from shared.http import serve_with_worker

    stopped = asyncio.Event()

    async def worker():
        await stopped.wait()
        await asyncio.sleep(0.2)  # a round that takes a while to finish
        print("worker finished its round", flush=True)

    app = FastAPI()

    @app.get("/health/ready")
    def ready():
        return {"status": "ok"}

    asyncio.run(serve_with_worker(worker(), stopped.set, app, host="127.0.0.1",
                                  port=int(sys.argv[1]), name="test-worker"))
    print("process ended on its own", flush=True)
    """
)


def test_sigterm_lets_the_worker_finish_and_the_process_exit_zero() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).is_success:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the process never became ready"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "worker finished its round" in out
    assert "process ended on its own" in out
