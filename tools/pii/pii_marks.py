"""Collect the PII marks: the columns of every service's tables and the fields of the contracts.

Tables: each ``services/<svc>/src/<svc>/adapters/persistence/tables.py`` exposes ``metadata``;
the inbox's tables come from ``shared.inbox.inbox_metadata``. Marks are ``shared.pii``'s.

Contracts: every entry of every ``properties`` map in contracts/openapi and contracts/asyncapi
carries ``x-pii``: ``none``, or ``{class: <class>, purpose: <why we hold or send it>}``. A field
that is only a ``$ref`` is classified by its target: an object's own fields, or the target
schema's ``x-pii`` when it is a scalar, an enum or an array.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import MetaData

from shared import pii
from shared.inbox import inbox_metadata

REPO = Path(__file__).resolve().parents[2]
CONTRACT_GLOBS = ("contracts/openapi/*.yaml", "contracts/asyncapi/*.yaml")
CLASSES = tuple(c.value for c in pii.Classification)
CHASSIS_TABLES = {"outbox", "idempotency_keys", "jobs", *inbox_metadata.tables}

# Every table names one of these (shared.pii.held_for(..., retention=NAME)); the rule is what
# runs today. docs/pii.md lists them beside the tables that follow them.
RETENTION: dict[str, str] = {
    "identity-records": "kept while the account or org exists",
    "refresh-tokens": "until expiry (30 days) or revocation",
    "signing-keys": "retired keys kept while tokens they signed may still be presented",
    "catalog": "kept while the product exists",
    "orders": "kept for the tenant's records; no purge yet",
    "payments": "kept for the tenant's records; no purge yet",
    "webhook-endpoints": "until deleted; the signing secret is erased at deletion",
    "deliveries": "finished deliveries purged after 30 days (notifications' worker)",
    "outbox": "published rows deleted after 24 h (the relay's cleanup)",
    "inbox": "deduplication rows purged after 30 days (above the 7-day topic retention)",
    "idempotency-keys": "24 h, purged every 5 min",
    "jobs": "kept for the job's owner to read; no purge yet",
}


@dataclass(frozen=True, slots=True)
class ColumnEntry:
    """One column of one table, with its mark (``None``: unclassified)."""

    service: str
    table: str
    column: str
    mark: pii.PiiMark | None


@dataclass(frozen=True, slots=True)
class FieldEntry:
    """One field of a contract schema: where it is, its class and purpose (or the problem)."""

    contract: str  # e.g. "openapi/orders.yaml"
    schema: str  # the schema's path, e.g. "Order" or "ProblemDetails"
    field: str
    classification: str | None  # None: unclassified or malformed
    purpose: str
    problem: str = ""


def service_metadata() -> dict[str, MetaData]:
    """Each service's table metadata, by service name, plus ``chassis`` for the inbox tables."""
    found: dict[str, MetaData] = {}
    for path in sorted(REPO.glob("services/*/src/*/adapters/persistence/tables.py")):
        service = path.parents[2].name
        found[service] = importlib.import_module(f"{service}.adapters.persistence.tables").metadata
    found["chassis"] = inbox_metadata
    return found


def columns() -> list[ColumnEntry]:
    """Every column of every table, chassis tables once (under ``chassis``)."""
    entries: list[ColumnEntry] = []
    seen_chassis: set[str] = set()
    for service, metadata in service_metadata().items():
        for table in metadata.sorted_tables:
            owner = "chassis" if table.name in CHASSIS_TABLES else service
            if owner == "chassis":
                if table.name in seen_chassis:
                    continue
                seen_chassis.add(table.name)
            entries += [
                ColumnEntry(owner, table.name, c.name, pii.column_mark(c)) for c in table.columns
            ]
    return entries


def tables() -> dict[tuple[str, str], pii.TablePurpose | None]:
    """(owner, table) -> its purpose and retention, chassis tables once."""
    out: dict[tuple[str, str], pii.TablePurpose | None] = {}
    for service, metadata in service_metadata().items():
        for table in metadata.sorted_tables:
            owner = "chassis" if table.name in CHASSIS_TABLES else service
            out.setdefault((owner, table.name), pii.table_purpose(table))
    return out


def table_problems() -> list[str]:
    """Unclassified columns and tables, and retention names no policy has."""
    problems = [
        f"{e.service}: {e.table}.{e.column} has no PII mark" for e in columns() if not e.mark
    ]
    for (owner, name), purpose in tables().items():
        if purpose is None:
            problems.append(f"{owner}: table {name} has no pii.held_for(...) purpose")
        elif purpose.retention not in RETENTION:
            problems.append(f"{owner}: table {name} names unknown retention {purpose.retention!r}")
    return problems


# ------------------------------------------------------------------------------- contracts


def contract_files(root: Path = REPO) -> list[Path]:
    """The OpenAPI and AsyncAPI documents under ``root``."""
    return sorted(p for pattern in CONTRACT_GLOBS for p in root.glob(pattern))


def _classify(mark: Any) -> tuple[str | None, str, str]:
    if mark == "none":
        return "none", "", ""
    if isinstance(mark, dict) and mark.get("class") in CLASSES and mark.get("purpose"):
        return str(mark["class"]), str(mark["purpose"]), ""
    if mark is None:
        return None, "", "no x-pii mark"
    return None, "", f"x-pii must be `none` or {{class, purpose}} with class in {CLASSES}"


def _load(path: Path) -> Any:
    return _parse(path.resolve(), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _parse(path: Path, _mtime_ns: int) -> Any:
    # The C loader when built: the contracts are ~9,000 lines, read once per (file, mtime).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - a safe loader


def _target(path: Path, ref: str) -> Any:
    file_part, _, pointer = ref.partition("#")
    node = _load(path.parent / file_part if file_part else path)
    for part in pointer.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _walk(node: Any, trail: list[str]) -> Iterator[tuple[list[str], str, dict[str, Any]]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, prop in value.items():
                    yield trail, name, prop if isinstance(prop, dict) else {}
            yield from _walk(value, [*trail, str(key)])
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, trail)


def _schema_name(trail: list[str]) -> str:
    # components/schemas/<Name>/... for named schemas; else the path inside the document.
    if trail[:2] == ["components", "schemas"] and len(trail) > 2:
        inner = [t for t in trail[3:] if t != "properties"]
        return trail[2] + ("." + ".".join(inner) if inner else "")
    return "/".join(trail)


def fields(root: Path = REPO) -> list[FieldEntry]:
    """Every field of every contract with its classification, or the problem with its mark."""
    entries: list[FieldEntry] = []
    for path in contract_files(root):
        label = str(path.relative_to(root / "contracts"))
        for trail, name, prop in _walk(_load(path), []):
            if set(prop) == {"$ref"}:
                target = _target(path, prop["$ref"])
                if isinstance(target, dict) and "properties" in target:
                    continue  # the target's own fields are listed where it is defined
                classification, purpose, problem = _classify((target or {}).get("x-pii"))
                if problem:
                    problem = f"its $ref target {prop['$ref']} has {problem}"
            else:
                classification, purpose, problem = _classify(prop.get("x-pii"))
            entries.append(
                FieldEntry(label, _schema_name(trail), name, classification, purpose, problem)
            )
    return entries


def field_problems(root: Path = REPO) -> list[str]:
    """One line per contract field without a valid classification."""
    return [f"{e.contract}: {e.schema}.{e.field}: {e.problem}" for e in fields(root) if e.problem]
