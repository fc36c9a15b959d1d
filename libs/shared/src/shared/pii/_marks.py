"""The marks themselves: what a column's ``info`` and a table's ``info`` carry, and the check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, MetaData, Table

_COLUMN_KEY = "pii"
_TABLE_KEY = "pii_purpose"


class Classification(StrEnum):
    """How sensitive a column's content is; ordered from least to most sensitive."""

    NONE = "none"
    PSEUDONYMOUS_ID = "pseudonymous-id"
    PERSONAL = "personal"
    SECRET = "secret"  # noqa: S105  # nosec B105 - a classification's name, not a secret

    @property
    def rank(self) -> int:
        """Position in the order above, to take the most sensitive of several."""
        return list(Classification).index(self)


@dataclass(frozen=True, slots=True)
class PiiMark:
    """One column's classification and, for anything but ``none``, what it holds."""

    classification: Classification
    note: str = ""


@dataclass(frozen=True, slots=True)
class TablePurpose:
    """Why a table holds its rows and the name of the retention policy that bounds them."""

    purpose: str
    retention: str


def _mark(classification: Classification, note: str) -> dict[str, Any]:
    # A fresh dict per column: SQLAlchemy keeps ``info`` as given, and columns must not share it.
    return {_COLUMN_KEY: PiiMark(classification, note)}


def none(note: str = "") -> dict[str, Any]:
    """``info`` for a column that says nothing about a person."""
    return _mark(Classification.NONE, note)


def pseudonymous_id(note: str = "") -> dict[str, Any]:
    """``info`` for an id that designates a person only through another table (a user id)."""
    return _mark(Classification.PSEUDONYMOUS_ID, note)


def personal(note: str) -> dict[str, Any]:
    """``info`` for a column that identifies or describes a person; ``note`` says what it is."""
    return _mark(Classification.PERSONAL, note)


def secret(note: str) -> dict[str, Any]:
    """``info`` for a credential or key material; ``note`` says what it grants."""
    return _mark(Classification.SECRET, note)


def held_for(purpose: str, *, retention: str) -> dict[str, Any]:
    """``info`` for a table: its purpose and its retention policy's name (see docs/pii.md)."""
    return {_TABLE_KEY: TablePurpose(purpose, retention)}


def column_mark(column: Column[Any]) -> PiiMark | None:
    """The column's mark, or ``None`` when it has none."""
    mark = column.info.get(_COLUMN_KEY)
    return mark if isinstance(mark, PiiMark) else None


def table_purpose(table: Table) -> TablePurpose | None:
    """The table's purpose and retention, or ``None`` when it has none."""
    purpose = table.info.get(_TABLE_KEY)
    return purpose if isinstance(purpose, TablePurpose) else None


def unclassified(metadata: Iterable[MetaData]) -> list[str]:
    """``table`` and ``table.column`` names of every table or column lacking its mark."""
    missing: list[str] = []
    for meta in metadata:
        for table in meta.sorted_tables:
            if table_purpose(table) is None:
                missing.append(table.name)
            missing += [f"{table.name}.{c.name}" for c in table.columns if column_mark(c) is None]
    return missing
