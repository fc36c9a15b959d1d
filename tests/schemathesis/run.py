"""``make contracts-fuzz``: schemathesis over the running gateway's ``/v1/openapi.json``.

Signs up through the API for a real token (a new org, its owner), then runs every phase
(examples, coverage, fuzzing, stateful) with every check, bounded by ``--max-time``; the
built-in positive-data check is replaced by hooks.declared_rejections, which honours the
contract's ``x-rejections``. Checks and per-operation settings: schemathesis.toml beside this.
Exit status: schemathesis' own (0 when nothing failed). Reports: .data/schemathesis/.
"""

from __future__ import annotations

import argparse
import os
import subprocess  # nosec B404: runs the locked schemathesis CLI with a fixed argument list
import sys
import time
import uuid
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def token(gateway: str, wait_s: float = 90.0) -> str:
    """An access token of a new org's owner, signed up through the public API (retried while
    the stack answers 429/5xx or not at all, e.g. just after a restart)."""
    tag = uuid.uuid4().hex[:12]
    deadline = time.monotonic() + wait_s
    while True:
        try:
            r = httpx.post(
                f"{gateway}/v1/auth/signup",
                json={
                    "email": f"schemathesis-{tag}@example.com",
                    "password": f"schemathesis password {tag}",
                    "display_name": "Schemathesis",
                    "org_name": f"Schemathesis {tag}",
                },
                headers={"Idempotency-Key": f"schemathesis-{tag}"},
                timeout=30.0,
            )
            if r.status_code < 429 or time.monotonic() > deadline:
                r.raise_for_status()
                access: str = r.json()["access_token"]
                return access
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(2.0)


def main(args: argparse.Namespace) -> int:
    reports = ROOT / ".data" / "schemathesis"
    reports.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{args.gateway}/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token(args.gateway)}",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-time",
        str(args.max_time),
        "--workers",
        str(args.workers),
        "--report",
        "junit,ndjson",
        "--report-dir",
        str(reports),
        "--no-color",
    ]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "hooks", "PYTHONPATH": str(HERE)}
    # In .data/schemathesis: the reports, and schemathesis' cache (.schemathesis/) of this run.
    done = subprocess.run(command, env=env, cwd=reports, check=False)  # nosec B603
    return done.returncode


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gateway", default="http://127.0.0.1:8000")
    p.add_argument("--max-time", type=int, default=150, help="seconds for the whole run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, help="replay a run (its seed is printed at the end)")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(main(parse()))
