"""A local webhook receiver for Alertmanager: appends every notification to a JSON-lines file.

Alertmanager's only receiver (infra/prometheus/alertmanager.yml) posts here locally, so routed
alerts can be read back (``tail -f .data/logs/alerts.jsonl``) and tested; elsewhere that URL
points at the team's pager or chat bridge. Standard library only; loopback only.

Usage: python3 infra/prometheus/alert_sink.py --port 19095 --out .data/logs/alerts.jsonl
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_MAX_BODY = 1 << 20  # Alertmanager batches at most max_alerts (50) per notification


def handler(out: Path) -> type[BaseHTTPRequestHandler]:
    """A request handler class writing to ``out``."""
    lock = threading.Lock()

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if not 0 < length <= _MAX_BODY:
                self.send_error(413 if length else 400)
                return
            try:
                body = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400)
                return
            with lock, out.open("a", encoding="utf-8") as sink:
                sink.write(json.dumps(body, sort_keys=True) + "\n")
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return  # the notifications themselves are the log

    return Sink


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=19095)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ThreadingHTTPServer(("127.0.0.1", args.port), handler(args.out)).serve_forever()


if __name__ == "__main__":
    main()
