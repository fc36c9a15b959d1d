"""Runs one measured side of the benchmark in a fresh interpreter and prints its JSON result.

Usage (by ``common.run_child``): ``child.py <module:function> <env json> <kwargs json>``.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys

from common import Env, quiet_logs

from shared.outbox import tune_gc


def main() -> None:
    """Import the function, run it on a new event loop, print the result as the last line."""
    target, env_json, kwargs_json = sys.argv[1:4]
    module_name, func_name = target.split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    quiet_logs()
    # Every side, ours or not, runs with the garbage-collector settings of a relay process.
    tune_gc()
    result = asyncio.run(func(Env.from_json(env_json), **json.loads(kwargs_json)))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
