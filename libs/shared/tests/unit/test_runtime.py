"""Every process of ours runs on uvloop: the chassis' runner, and every entry point uses it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import uvloop

from shared.runtime import run

ROOT = Path(__file__).resolve().parents[4]


def test_run_drives_the_coroutine_on_a_fresh_uvloop_loop() -> None:
    async def main() -> type[asyncio.AbstractEventLoop]:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop())

    assert run(main()) is uvloop.Loop
    assert run(main()) is uvloop.Loop  # a new loop each time, like asyncio.run


def test_no_process_entry_point_starts_the_standard_loop() -> None:
    sources = [
        *ROOT.glob("services/*/src/*/entrypoints/*.py"),
        *ROOT.glob("libs/shared/src/shared/**/*.py"),
    ]
    assert len(sources) > 20
    offenders = [
        str(path.relative_to(ROOT))
        for path in sources
        if re.search(r"\basyncio\.run\(", path.read_text())
    ]
    assert offenders == []  # use shared.runtime.run
