"""Keep one process of the local stack running: restart it when it exits unexpectedly.

Usage: .venv/bin/python infra/supervise.py --name NAME --state FILE [--pidfile FILE] [options]
       -- COMMAND [ARG...]

`infra/services.sh` (under `make up`) and the Tiltfile (Tilt does not restart a crashed
serve_cmd) run each process of infra/Procfile.<layout> under this supervisor. It
- restarts the child whenever it exits without being asked to (SIGKILL, a crash, even exit 0):
  at once after a stable run (--stable-after seconds), then after a backoff that doubles from
  --backoff-initial to --backoff-max;
- gives up after --max-restarts restarts within --window seconds (a crash loop), exiting 1;
- logs each start, exit, restart and the time the child took to answer --ready-url, as JSON
  lines on stderr (the process's log), and keeps its state in --state (JSON, read by
  `services.sh status`), and the child's pid in --pidfile;
- runs the child's start-up at nice --start-nice (as root), back to its own once ready;
- on SIGTERM/SIGINT forwards the signal to the child, waits --stop-timeout seconds (then
  SIGKILLs it) and exits without a restart; if the supervisor itself dies, the child gets
  SIGTERM (PR_SET_PDEATHSIG), so no process is left behind unsupervised.

Why --preload: a Python service spends most of its start-up importing (fastapi, SQLAlchemy,
pydantic, aiokafka: ~1.4 s of CPU, 10+ s of wall time on a loaded 2-core machine). With
--preload, COMMAND must be a console script of this environment: the supervisor imports its
module once, and each (re)start is a fork() that calls the entry point, so a restart pays only
for connecting and serving. Code changed on disk is picked up by restarting the supervisor
(`services.sh stop NAME && services.sh start NAME`), not by a crash restart.

Standard library only, so it costs ~20 ms and a few MB when --preload is off.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import select
import signal
import sys
import time
import traceback
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_FORWARDED = (signal.SIGTERM, signal.SIGINT)
PROBE_EVERY_S = 0.2  # readiness polls during start-up only; each runs the child's real checks
READY_WAIT_S = 120.0  # stop polling a child that never answers ready


@dataclass
class Policy:
    """When to restart, how long to wait, and when to give up."""

    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    stable_after_s: float = 30.0
    # Ten restarts in five minutes: the backoff (0, 0.5, 1 ... 30 s) spans ~2 min of them, so
    # a dependency down that long (Kafka restarting) is waited out, a broken build is not.
    max_restarts: int = 10
    window_s: float = 300.0
    stop_timeout_s: float = 15.0
    start_nice: int = -10


@dataclass
class State:
    """What `services.sh status` shows; written atomically to the state file."""

    name: str
    supervisor_pid: int
    state: str = "starting"  # starting, running, ready, backoff, stopping, stopped, crash-loop
    child_pid: int | None = None
    restarts: int = 0
    last_exit: str | None = None
    started_at: float | None = None
    last_ready_s: float | None = None
    restart_times: list[float] = field(default_factory=list)


def describe_exit(status: int) -> str:
    """``killed by SIGKILL`` or ``exit 3`` for a wait status."""
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit {os.waitstatus_to_exitcode(status)}"


def backoff_s(policy: Policy, consecutive: int) -> float:
    """Delay before restart number ``consecutive`` (1-based) of a run of quick failures.

    The first restart after a stable run is immediate (a killed process should be back at
    once); each quick failure after it doubles the delay from ``backoff_initial_s``.
    """
    if consecutive <= 1:
        return 0.0
    return float(min(policy.backoff_initial_s * 2 ** (consecutive - 2), policy.backoff_max_s))


def crash_loop(policy: Policy, restart_times: Sequence[float], now: float) -> bool:
    """True when one more restart would exceed ``max_restarts`` within ``window_s``."""
    recent = [t for t in restart_times if now - t < policy.window_s]
    return len(recent) >= policy.max_restarts


def preload_entry(command: str) -> Callable[[], Any] | None:
    """Import the console script ``command``'s entry point; None when it is not one of ours."""
    name = Path(command).name
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    if not found:
        return None
    func: Callable[[], Any] = found[0].load()
    return func


class Supervisor:
    """Runs one child until asked to stop; see the module docstring for the rules."""

    def __init__(  # noqa: PLR0917 - each argument is one of the command line's
        self,
        name: str,
        command: Sequence[str],
        state_file: Path,
        policy: Policy,
        ready_url: str | None = None,
        entry: Callable[[], Any] | None = None,
        pidfile: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.policy = policy
        self.ready_url = ready_url
        self.entry = entry
        self.state_file = state_file
        self.pidfile = pidfile
        self.state = State(name=name, supervisor_pid=os.getpid())
        self._stop_signal: int | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    # -- signals: forwarded to the child, and the main loop woken through a pipe ------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        # Only noted here; the loop forwards it, so a child forked meanwhile is not missed.
        if self._stop_signal is None:
            self._stop_signal = signum
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"x")

    def install_signals(self) -> None:
        """Forward SIGTERM and SIGINT to the child and stop; SIGHUP is ignored (nohup)."""
        for sig in _FORWARDED:
            signal.signal(sig, self._on_signal)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until a stop signal (exit 0) or a crash loop (exit 1)."""
        consecutive = 0
        while True:
            started = time.monotonic()
            pid = self._spawn()
            status = self._wait(pid, started)
            ran_s = time.monotonic() - started
            self.state.child_pid = None
            self.state.last_exit = describe_exit(status)
            if self._stop_signal is not None:
                self._log("supervisor.stopped", exit=self.state.last_exit, ran_s=round(ran_s, 2))
                self._save("stopped")
                return 0
            consecutive = 1 if ran_s >= self.policy.stable_after_s else consecutive + 1
            now = time.monotonic()
            if crash_loop(self.policy, self.state.restart_times, now):
                self._log(
                    "supervisor.crash_loop",
                    exit=self.state.last_exit,
                    restarts=self.state.restarts,
                    window_s=self.policy.window_s,
                )
                self._save("crash-loop")
                return 1
            delay = backoff_s(self.policy, consecutive)
            self._log(
                "supervisor.restarting",
                exit=self.state.last_exit,
                ran_s=round(ran_s, 2),
                restart=self.state.restarts + 1,
                delay_s=delay,
            )
            self._save("backoff")
            if self._sleep(delay):
                self._log("supervisor.stopped", exit=self.state.last_exit)
                self._save("stopped")
                return 0
            self.state.restarts += 1
            now = time.monotonic()
            self.state.restart_times = [
                t for t in [*self.state.restart_times, now] if now - t < self.policy.window_s
            ]

    def _spawn(self) -> int:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            self._child()
        self.state.child_pid = pid
        self.state.started_at = time.time()
        if self.pidfile is not None:
            _write(self.pidfile, f"{pid}\n")
        self._log("supervisor.started", pid=pid, restarts=self.state.restarts)
        self._save("running")
        return pid

    def _child(self) -> None:
        code = 1
        try:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            os.close(self._wake_r)
            os.close(self._wake_w)
            # Should the supervisor die, the child is asked to stop rather than left orphaned.
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != self.state.supervisor_pid:
                os._exit(1)
            # Start-up runs ahead of the machine's other work (only root may raise a priority):
            # on 2 busy cores a start-up of 0.7 s of CPU otherwise takes 6-9 s of wall time.
            # The supervisor lowers it back once the child is ready (_settle).
            if self.ready_url is not None:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, 0, self.policy.start_nice)
            if self.entry is None:  # not preloaded: exec the command itself, no shell
                os.execv(self.command[0], self.command)  # noqa: S606  # nosec B606
            sys.argv = list(self.command)
            result = self.entry()
            code = result if isinstance(result, int) else 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # the child reports whatever ended it, then exits
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)

    def _wait(self, pid: int, started: float) -> int:
        """Wait for the child to exit; meanwhile note when it is ready, enforce the stop timeout."""
        pidfd = os.pidfd_open(pid)
        try:
            probing = self.ready_url is not None  # until ready, or READY_WAIT_S passed
            stop_deadline: float | None = None
            while True:
                now = time.monotonic()
                if self._stop_signal is not None and stop_deadline is None:
                    self._save("stopping")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, self._stop_signal)
                    stop_deadline = now + self.policy.stop_timeout_s
                timeouts = [PROBE_EVERY_S] if probing else []
                if stop_deadline is not None and stop_deadline != float("inf"):
                    timeouts.append(max(0.0, stop_deadline - now))
                timeout = min(timeouts, default=None)  # None: only an exit or a signal wakes us
                readable, _, _ = select.select([pidfd, self._wake_r], [], [], timeout)
                if self._wake_r in readable:
                    os.read(self._wake_r, 64)
                if pidfd in readable:
                    return os.waitpid(pid, 0)[1]
                now = time.monotonic()
                if stop_deadline is not None and now >= stop_deadline:
                    timeout_s = self.policy.stop_timeout_s
                    self._log("supervisor.stop_timeout", pid=pid, after_s=timeout_s)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    stop_deadline = float("inf")
                if probing and self._stop_signal is None:
                    probing = self._starting(pid, now - started)
        finally:
            os.close(pidfd)

    def _starting(self, pid: int, elapsed_s: float) -> bool:
        """Probe the child once; False when its start-up is over (ready, or given up on)."""
        if self._probe():
            self.state.last_ready_s = round(elapsed_s, 2)
            self._log("supervisor.ready", pid=pid, after_s=self.state.last_ready_s)
            self._save("ready")
        elif elapsed_s < READY_WAIT_S:
            return True
        else:
            self._log("supervisor.not_ready", pid=pid, after_s=round(elapsed_s, 2))
        self._settle(pid)
        return False

    def _settle(self, pid: int) -> None:
        """Give every thread of the started child the supervisor's own priority back."""
        nice = os.getpriority(os.PRIO_PROCESS, 0)
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, int(tid), nice)

    def _probe(self) -> bool:
        if self.ready_url is None:
            return False
        try:
            # Our own loopback URL from services.sh, never user input.
            with urllib.request.urlopen(self.ready_url, timeout=1) as answer:  # noqa: S310  # nosec B310
                return bool(200 <= answer.status < 300)
        except (OSError, ValueError):
            return False

    def _sleep(self, seconds: float) -> bool:
        """Sleep for the backoff; True when a stop signal came meanwhile."""
        end = time.monotonic() + seconds
        while self._stop_signal is None:
            left = end - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([self._wake_r], [], [], left)
            if readable:
                os.read(self._wake_r, 64)
        return True

    # -- state and log ----------------------------------------------------------------------

    def _save(self, state: str) -> None:
        self.state.state = state
        _write(self.state_file, json.dumps(asdict(self.state)))
        if state in {"stopped", "crash-loop"} and self.pidfile is not None:
            self.pidfile.unlink(missing_ok=True)

    def _log(self, event: str, **fields: object) -> None:
        line = {
            "event": event,
            "level": "error" if event == "supervisor.crash_loop" else "info",
            "logger": "supervise",
            "process": self.state.name,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            **fields,
        }
        print(json.dumps(line), file=sys.stderr, flush=True)


def _write(path: Path, text: str) -> None:
    """Replace ``path`` at once: a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--state", required=True, type=Path, help="JSON state file")
    parser.add_argument("--pidfile", type=Path, help="kept naming the running child")
    parser.add_argument("--ready-url", help="polled after each start to log time to ready")
    parser.add_argument("--preload", action="store_true", help="fork a preloaded console script")
    defaults = Policy()
    for option, value in asdict(defaults).items():
        flag = "--" + option.removesuffix("_s").replace("_", "-")
        parser.add_argument(flag, dest=option, type=type(value), default=value)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("a COMMAND to supervise is required after --")
    if args.ready_url and not args.ready_url.startswith("http://"):
        parser.error("--ready-url is an http:// URL")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Supervise the command line's COMMAND; the exit code says why the supervisor ended."""
    args = parse(sys.argv[1:] if argv is None else argv)
    policy = Policy(**{k: getattr(args, k) for k in asdict(Policy())})
    entry = preload_entry(args.command[0]) if args.preload else None
    supervisor = Supervisor(
        args.name, args.command, args.state, policy, args.ready_url, entry, args.pidfile
    )
    supervisor.install_signals()
    if entry is not None:
        # What the import built lives as long as the supervisor: frozen, the children's
        # collections leave those pages alone and they stay shared after fork().
        gc.collect()
        gc.freeze()
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
