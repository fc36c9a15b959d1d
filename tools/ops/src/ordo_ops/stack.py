"""Where the local stack is: its processes (from the Procfile in effect), servers and databases.

Everything here reads files of the checkout (``infra/Procfile.<layout>``, ``.data/run`` pid files,
``.data/secrets/<service>/database__password``) and the same environment variables as
``infra/lib.sh`` and ``infra/services.sh``, so ``ordo`` sees what ``make up`` started.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from shared.settings import DatabaseSettings

__all__ = ["DB_SERVICES", "Process", "Stack"]

# The services that own a database (infra/lib.sh's ORDO_DB_SERVICES).
DB_SERVICES = ("gateway", "identity", "catalog", "orders", "payments", "notifications")
_LAYOUT_DEFAULT = re.compile(r'^ORDO_LAYOUT="\$\{ORDO_LAYOUT:-([a-z]+)\}"$', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Process:
    """One line of a Procfile: a process of ours, its service and its HTTP port."""

    name: str
    service: str
    port: int


@dataclass(frozen=True, slots=True)
class Stack:
    """The local stack of one checkout.

    Attributes:
        root: the checkout.
        data: its data folder (``ORDO_DATA``, default ``<root>/.data``).
        kafka_bootstrap: ``host:port`` of the broker.
        pg_port: PostgreSQL's port on 127.0.0.1.
    """

    root: Path
    data: Path
    kafka_bootstrap: str
    pg_port: int

    @classmethod
    def discover(cls, root: Path | None = None) -> Stack:
        """Find the checkout (``ORDO_ROOT``, else upwards from the working directory)."""
        found = root or _find_root(Path(os.environ.get("ORDO_ROOT", Path.cwd())))
        data = Path(os.environ.get("ORDO_DATA", found / ".data"))
        kafka = os.environ.get(
            "ORDO_KAFKA__BOOTSTRAP_SERVERS",
            f"127.0.0.1:{os.environ.get('ORDO_KAFKA_PORT', '19092')}",
        )
        return cls(found, data, kafka, int(os.environ.get("ORDO_PG_PORT", "15432")))

    def layout(self) -> str:
        """The layout infra/services.sh runs: ``ORDO_LAYOUT``, else that script's default."""
        if os.environ.get("ORDO_LAYOUT"):
            return os.environ["ORDO_LAYOUT"]
        script = (self.root / "infra" / "services.sh").read_text(encoding="utf-8")
        match = _LAYOUT_DEFAULT.search(script)
        return match.group(1) if match else "combined"

    def processes(self) -> list[Process]:
        """The processes of the layout in effect, in Procfile order."""
        procfile = self.root / "infra" / f"Procfile.{self.layout()}"
        found = []
        for raw in procfile.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                name, service, port, _command = line.split(maxsplit=3)
                found.append(Process(name, service, int(port)))
        return found

    def pid(self, process: Process) -> int | None:
        """The pid of ``process`` when it runs (its pid file names a live process)."""
        try:
            pid = int((self.data / "run" / f"{process.name}.pid").read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def database(self, service: str) -> DatabaseSettings:
        """Connection settings of ``service``'s own database, as its own role."""
        secret = self.data / "secrets" / service / "database__password"
        password = secret.read_text(encoding="utf-8").strip() if secret.is_file() else ""
        name = f"ordo_{service}"
        return DatabaseSettings.model_validate(
            {"port": self.pg_port, "name": name, "user": name, "password": password}
        )


def _find_root(start: Path) -> Path:
    for folder in (start, *start.resolve().parents):
        if (folder / "infra" / "services.sh").is_file():
            return folder
    raise FileNotFoundError("not inside an Ordo checkout (set ORDO_ROOT)")
