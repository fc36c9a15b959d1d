"""Command line: re-drive dead letters of one ``<topic>.dlq`` topic, once each, audited.

Usage (settings such as ``ORDO_DATABASE__NAME`` come from the consuming service's environment
and secret files, as for the service itself)::

    python -m shared.inbox.replay --dlq-topic orders.events.dlq --group catalog \\
        --code infrastructure.error --since 2026-11-20T00:00:00Z \\
        --actor alice --reason "INC-42: provider outage over"

It prints the report as JSON. ``--dry-run`` counts without publishing. Running it twice does
not publish a dead letter twice (see :mod:`shared.inbox._replay`).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime

from shared.db import create_engine, create_session_factory
from shared.inbox._headers import parse_time
from shared.inbox._replay import replay_dead_letters
from shared.inbox._replay_model import ReplayFilter, ReplayReport, ReplayTarget
from shared.runtime import run
from shared.settings import ServiceSettings

__all__ = ["build_parser", "main", "parse_filter"]


def _instant(text: str) -> datetime:
    value = parse_time(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 timestamp: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m shared.inbox.replay``."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.inbox.replay",
        description="Re-publish selected dead letters once each, with an audit entry.",
    )
    parser.add_argument("--dlq-topic", required=True, help="the <topic>.dlq topic to read")
    parser.add_argument("--actor", required=True, help="who runs the replay (audit)")
    parser.add_argument("--reason", required=True, help="why, e.g. an incident id (audit)")
    parser.add_argument("--group", action="append", default=[], help="consumer group (repeat)")
    parser.add_argument("--code", action="append", default=[], help="error code (repeat)")
    parser.add_argument("--type", action="append", default=[], help="event type (repeat)")
    parser.add_argument("--since", type=_instant, help="dead-lettered at or after (RFC 3339)")
    parser.add_argument("--until", type=_instant, help="dead-lettered before (RFC 3339)")
    parser.add_argument(
        "--target",
        choices=["retry", "original"],
        default="retry",
        help="the group's retry lane (default) or the original topic (every group re-reads)",
    )
    parser.add_argument("--dry-run", action="store_true", help="count only; publish nothing")
    parser.add_argument(
        "--allow-old",
        action="store_true",
        help="also replay events older than the inbox window (duplicates may apply twice)",
    )
    return parser


def parse_filter(args: argparse.Namespace) -> ReplayFilter:
    """Build the :class:`ReplayFilter` the parsed arguments describe."""
    return ReplayFilter(
        since=args.since,
        until=args.until,
        error_codes=frozenset(args.code),
        event_types=frozenset(args.type),
        groups=frozenset(args.group),
    )


async def _run(args: argparse.Namespace, settings: ServiceSettings) -> ReplayReport:
    engine = create_engine(settings.database, application_name=f"{settings.service_name}-replay")
    try:
        target: ReplayTarget = "original" if args.target == "original" else "retry"
        return await replay_dead_letters(
            session_factory=create_session_factory(engine),
            kafka=settings.kafka,
            dlq_topic=args.dlq_topic,
            actor=args.actor,
            reason=args.reason,
            filters=parse_filter(args),
            target=target,
            dry_run=args.dry_run,
            allow_older_than_window=args.allow_old,
        )
    finally:
        await engine.dispose()


def main(argv: Sequence[str] | None = None, settings: ServiceSettings | None = None) -> int:
    """Run the command; return the process exit code (0 done, 1 failed)."""
    args = build_parser().parse_args(argv)
    try:
        report = run(_run(args, settings or ServiceSettings()))
    except Exception as exc:  # the command's boundary: report, never a traceback to operators
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)[:500]}), file=sys.stderr)
        return 1
    print(json.dumps(report.as_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
