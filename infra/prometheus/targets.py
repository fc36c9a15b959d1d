"""Write Prometheus file_sd targets for every process of one Procfile (infra/Procfile.<layout>).

One target per process: ``127.0.0.1:<port>`` with labels ``process`` (its name, which becomes
the ``job``) and ``service``. The fake payment provider stands in for an external system and
serves no ``/metrics``, so it is left out.

Usage: python3 infra/prometheus/targets.py --procfile infra/Procfile.split --out targets.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NOT_SCRAPED = frozenset({"payment-provider"})


def targets(procfile: Path) -> list[dict[str, object]]:
    """Return the file_sd groups for ``procfile``'s processes, in file order."""
    groups: list[dict[str, object]] = []
    for raw in procfile.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, service, port, _command = line.split(maxsplit=3)
        if service in NOT_SCRAPED:
            continue
        groups.append(
            {"targets": [f"127.0.0.1:{int(port)}"], "labels": {"process": name, "service": service}}
        )
    return groups


def main() -> None:
    """Write the targets file atomically (Prometheus may read it at any moment)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--procfile", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(targets(args.procfile), indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
