"""``ordo``: the operator's view of the local stack.

    ordo status                       processes, consumer lag, outbox backlog, dead-letter depth
    ordo dlq list [--topic T] ...     dead letters, filtered by group, error code, event type, time
    ordo dlq show TOPIC PARTITION OFFSET
    ordo dlq replay --topic T --reason WHY [filters] [--dry-run]
    ordo jobs list [--state S] [--kind K]  long-running jobs of every service (ordo_ops.jobs)
    ordo jobs show ID [--follow]          one job's progress, heartbeat, result
    ordo jobs cancel ID
    ordo keys rotate | list               identity's token signing keys (ordo_ops.keys)

Every command reads the stack ``make up`` started (see :mod:`ordo_ops.stack`); ``--json``
prints machine-readable output instead of tables.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ordo_ops import kafka as kafka_io
from ordo_ops.exporter import DlqGauges, collect_once, serve
from ordo_ops.jobs import jobs_app
from ordo_ops.keys import keys_app
from ordo_ops.replay import ReplayOptions, run_replay
from ordo_ops.stack import Stack
from ordo_ops.status import collect_status
from shared.inbox import ReplayFilter
from shared.inbox._headers import parse_time

__all__ = ["app", "main"]

app = typer.Typer(help="Operate the local Ordo stack.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and replay dead letters (<topic>.dlq).", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")
console = Console()

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
GroupOpt = Annotated[list[str] | None, typer.Option("--group", "-g", help="consumer group")]
CodeOpt = Annotated[list[str] | None, typer.Option("--code", "-c", help="error code")]
TypeOpt = Annotated[list[str] | None, typer.Option("--type", "-t", help="event type (ce_type)")]


def _instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    value = parse_time(text)
    if value is None:
        raise typer.BadParameter(f"not an RFC 3339 timestamp: {text!r}")
    return value


def _filter(
    group: list[str] | None,
    code: list[str] | None,
    event_type: list[str] | None,
    since: str | None,
    until: str | None,
) -> ReplayFilter:
    return ReplayFilter(
        since=_instant(since),
        until=_instant(until),
        error_codes=frozenset(code or ()),
        event_types=frozenset(event_type or ()),
        groups=frozenset(group or ()),
    )


@app.command()
def status(as_json: JsonOpt = False) -> None:
    """Processes (ready or not), consumer lag per group, outbox backlog, dead-letter depth."""
    report = asyncio.run(collect_status(Stack.discover()))
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    table = Table("process", "service", "port", "pid", "state", title="processes")
    for p in report["processes"]:
        state = (
            "[green]ready[/]"
            if p["ready"]
            else ("[yellow]not ready[/]" if p["pid"] else "[red]down[/]")
        )
        table.add_row(p["name"], p["service"], str(p["port"]), str(p["pid"] or "-"), state)
    console.print(table)
    table = Table("group", "topic", "partitions", "lag", title="consumer lag (end - committed)")
    for g in report["consumer_lag"]:
        table.add_row(g["group"], g["topic"], str(g["partitions"]), _warn(g["lag"], 1000))
    console.print(table)
    table = Table("service", "unpublished", "oldest age (s)", title="outbox backlog")
    for b in report["outbox"]:
        age = "-" if b["oldest_age_s"] is None else f"{b['oldest_age_s']:.1f}"
        count = b["error"] or "" if b["unpublished"] is None else _warn(b["unpublished"], 1000)
        table.add_row(b["service"], count, age)
    console.print(table)
    table = Table("dead-letter topic", "records", "replayed", "pending", title="dead letters")
    for d in report["dead_letters"]:
        table.add_row(d["topic"], str(d["records"]), str(d["replayed"]), _warn(d["pending"], 1))
    console.print(table)


def _warn(value: int, threshold: int) -> str:
    return f"[red]{value}[/]" if value >= threshold else str(value)


@dlq_app.command("list")
def dlq_list(  # noqa: PLR0917 - typer maps each parameter to an option
    topic: Annotated[
        list[str] | None, typer.Option("--topic", help="a .dlq topic (all if none)")
    ] = None,
    group: GroupOpt = None,
    code: CodeOpt = None,
    event_type: TypeOpt = None,
    since: Annotated[str | None, typer.Option(help="dead-lettered at or after (RFC 3339)")] = None,
    until: Annotated[str | None, typer.Option(help="dead-lettered before (RFC 3339)")] = None,
    limit: Annotated[int, typer.Option(help="show at most this many")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List dead letters, oldest first per partition, with why and where they came from."""
    chosen = _filter(group, code, event_type, since, until)
    rows = asyncio.run(_list(Stack.discover(), topic, chosen, limit))
    if as_json:
        print(json.dumps([_summary(r) for r in rows], indent=2))
        return
    table = Table(
        "topic",
        "p",
        "offset",
        "dead-lettered",
        "group",
        "code",
        "reason",
        "attempts",
        "event type",
        "origin",
        title=f"dead letters ({len(rows)} shown)",
    )
    for r in rows:
        s = _summary(r)
        table.add_row(
            s["topic"],
            str(s["partition"]),
            str(s["offset"]),
            s["dead_lettered_at"],
            s["group"] or "?",
            s["code"] or "?",
            s["reason"] or "?",
            str(s["attempts"]),
            s["event_type"] or "?",
            s["origin"] or "?",
        )
    console.print(table)


async def _list(
    stack: Stack, topics: list[str] | None, chosen: ReplayFilter, limit: int
) -> list[kafka_io.DlqRecord]:
    found: list[kafka_io.DlqRecord] = []
    for topic in topics or await kafka_io.dlq_topics(stack.kafka_bootstrap):
        async for record in kafka_io.read_dlq(stack.kafka_bootstrap, topic):
            if record.letter is None or chosen.matches(
                record.letter, record.event_type, record.timestamp
            ):
                found.append(record)
                if len(found) >= limit:
                    return found
    return found


def _summary(r: kafka_io.DlqRecord) -> dict[str, Any]:
    letter = r.letter
    return {
        "topic": r.topic,
        "partition": r.partition,
        "offset": r.offset,
        "dead_lettered_at": r.timestamp.isoformat(),
        "group": letter.group if letter else None,
        "code": letter.error_code if letter else None,
        "reason": letter.reason if letter else None,
        "attempts": letter.attempts if letter else 0,
        "event_type": r.event_type,
        "origin": (
            f"{letter.origin.topic}/{letter.origin.partition}/{letter.origin.offset}"
            if letter
            else None
        ),
    }


@dlq_app.command("show")
def dlq_show(
    topic: Annotated[str, typer.Argument(help="the .dlq topic")],
    partition: Annotated[int, typer.Argument()],
    offset: Annotated[int, typer.Argument()],
    as_json: JsonOpt = False,
) -> None:
    """Show one dead letter: its error, headers and payload."""
    record = asyncio.run(_one(Stack.discover(), topic, partition, offset))
    if record is None:
        console.print(f"[red]no record at {topic}/{partition}/{offset}[/]")
        raise typer.Exit(1)
    shown = _summary(record) | {
        "error_message": record.letter.error_message if record.letter else None,
        "key": (record.key or b"").decode("utf-8", "replace"),
        "headers": {k: v.decode("utf-8", "replace") for k, v in record.headers},
        "value": _payload(record.value),
    }
    if as_json:
        print(json.dumps(shown, indent=2))
        return
    console.print_json(json.dumps(shown))


def _payload(value: bytes | None) -> Any:
    text = (value or b"").decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text[:4000]


async def _one(stack: Stack, topic: str, partition: int, offset: int) -> kafka_io.DlqRecord | None:
    async for record in kafka_io.read_dlq(
        stack.kafka_bootstrap, topic, partition=partition, offset=offset
    ):
        return record if record.offset == offset else None
    return None


@dlq_app.command("replay")
def dlq_replay(  # noqa: PLR0917 - typer maps each parameter to an option
    topic: Annotated[str, typer.Option("--topic", help="the .dlq topic to replay from")],
    reason: Annotated[str, typer.Option(help="why, e.g. an incident id (audited)")],
    actor: Annotated[str, typer.Option(envvar="USER", help="who replays (audited)")] = "operator",
    group: GroupOpt = None,
    code: CodeOpt = None,
    event_type: TypeOpt = None,
    since: Annotated[str | None, typer.Option(help="dead-lettered at or after (RFC 3339)")] = None,
    until: Annotated[str | None, typer.Option(help="dead-lettered before (RFC 3339)")] = None,
    target: Annotated[str, typer.Option(help="retry (the group's lane) or original")] = "retry",
    service: Annotated[
        str | None, typer.Option(help="whose database holds the inbox (default: the one --group)")
    ] = None,
    database_url: Annotated[
        str | None, typer.Option(envvar="ORDO_OPS_DATABASE_URL", help="that database's URL instead")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count only, publish nothing")] = False,
    allow_old: Annotated[
        bool, typer.Option("--allow-old", help="also events older than the inbox window")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Re-drive chosen dead letters once each through shared.inbox.replay_dead_letters."""
    if target not in {"retry", "original"}:
        raise typer.BadParameter("--target is retry or original")
    owner = service or (group[0] if group and len(group) == 1 else None)
    if owner is None and database_url is None:
        raise typer.BadParameter("name the consuming --service (or one --group)")
    options = ReplayOptions(
        dlq_topic=topic,
        actor=actor,
        reason=reason,
        filters=_filter(group, code, event_type, since, until),
        target="original" if target == "original" else "retry",
        dry_run=dry_run,
        allow_old=allow_old,
    )
    stack = Stack.discover()
    database = (
        ReplayOptions.database_from(database_url) if database_url else stack.database(owner or "")
    )
    report = asyncio.run(run_replay(stack, database, options, console=None if as_json else console))
    print(json.dumps(report, sort_keys=True)) if as_json else console.print(report)


@app.command()
def exporter(
    port: Annotated[int, typer.Option(help="serve /metrics on 127.0.0.1:PORT")] = 19096,
    interval: Annotated[float, typer.Option(help="seconds between two collections")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="collect once, print, exit")] = False,
) -> None:
    """Serve ordo_dlq_pending{topic} (dead letters not yet replayed) for Prometheus."""
    stack = Stack.discover()
    if once:
        gauges = DlqGauges()
        asyncio.run(collect_once(stack, gauges))
        print(gauges.render(), end="")
        return
    serve(stack, port, interval)


def main() -> None:
    """The ``ordo`` console script."""
    app()
