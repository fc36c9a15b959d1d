"""Bulk stock import: the CSV's rules and the report of what an import did.

An import is a list of adjustments (``sku,delta[,reason]``, one per CSV line after the header)
applied in file order as ordinary stock adjustments. The whole file is checked before anything
starts: a file that is not such a CSV, or any line that breaks a rule, refuses the import
(``stock_import.invalid_csv``, every offending line named). What only the stock can tell (an
unknown SKU, on-hand below what is reserved) is found while applying and reported per line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.errors import AppError, FieldError, NotFoundError, ValidationError

__all__ = [
    "MAX_LINES",
    "MAX_REPORTED_ERRORS",
    "ImportLine",
    "StockImportInvalidError",
    "StockImportNotFoundError",
    "StockImportReport",
    "batches",
    "parse_stock_csv",
]

MAX_LINES = 50_000
MAX_REPORTED_ERRORS = 1000
_MAX_LISTED = 20  # offending lines named in one 422: enough to fix a file, bounded in size
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DELTA = re.compile(r"[+-]?[0-9]{1,10}")
_MAX_DELTA = 1_000_000_000
_HEADERS = (("sku", "delta"), ("sku", "delta", "reason"))


class StockImportInvalidError(ValidationError):
    """The upload is not an import CSV: the header sku,delta or sku,delta,reason, then at most
    50,000 lines, each a SKU, a non-zero integer delta and an optional reason of up to 200
    characters. The problem's errors[] names the offending lines. Nothing was started."""

    code = "stock_import.invalid_csv"
    default_message = "The CSV is not a valid stock import."


class StockImportNotFoundError(NotFoundError):
    """No such stock import in the caller's org (another org's import looks absent)."""

    code = "stock_import.not_found"


@dataclass(frozen=True, slots=True)
class ImportLine:
    """One adjustment of the file: its line number (the header is line 1)."""

    line: int
    sku: str
    delta: int
    reason: str

    def to_json(self) -> list[Any]:
        """Compact form kept in the job's params."""
        return [self.line, self.sku, self.delta, self.reason]

    @classmethod
    def from_json(cls, value: Sequence[Any]) -> ImportLine:
        """Inverse of :meth:`to_json`."""
        line, sku, delta, reason = value
        return cls(int(line), str(sku), int(delta), str(reason))


def parse_stock_csv(
    text: str, *, default_reason: str, max_lines: int = MAX_LINES
) -> list[ImportLine]:
    """The file's adjustments, in order.

    Raises:
        StockImportInvalidError: no or another header, no line, too many lines, or lines that
            break a rule (up to 20 listed, with ``body.csv.line<N>.<column>`` paths).
    """
    rows = csv.reader(text.splitlines())
    header = tuple(cell.strip().lower() for cell in next(rows, []))
    if header not in _HEADERS:
        raise StockImportInvalidError(
            "The first line must be the header sku,delta or sku,delta,reason.",
            errors=[FieldError("body.csv.line1", "expected sku,delta[,reason]", "csv_header")],
        )
    lines: list[ImportLine] = []
    problems: list[FieldError] = []
    for number, cells in enumerate(rows, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines (a trailing newline) carry nothing
        if len(lines) >= max_lines:
            raise StockImportInvalidError(f"An import holds at most {max_lines} lines.")
        parsed = _line(number, cells, len(header), default_reason, problems)
        if parsed is not None:
            lines.append(parsed)
    if problems:
        raise StockImportInvalidError(
            f"{len(problems)} problem(s) in the CSV; nothing was imported.",
            errors=problems[:_MAX_LISTED],
        )
    if not lines:
        raise StockImportInvalidError("The CSV holds no adjustment after its header.")
    return lines


def _line(
    number: int, cells: list[str], width: int, default_reason: str, problems: list[FieldError]
) -> ImportLine | None:
    where = f"body.csv.line{number}"
    if len(cells) not in (2, width):
        problems.append(FieldError(where, f"expected {width} columns, got {len(cells)}", "csv"))
        return None
    sku, delta_text = cells[0].strip(), cells[1].strip()
    reason = cells[2].strip() if len(cells) > 2 and cells[2].strip() else default_reason
    found = len(problems)
    if not _SKU.fullmatch(sku):
        problems.append(FieldError(f"{where}.sku", "not a SKU", "string_pattern_mismatch"))
    delta = int(delta_text) if _DELTA.fullmatch(delta_text) else None
    if delta is None or delta == 0 or abs(delta) > _MAX_DELTA:
        message = f"a non-zero integer from -{_MAX_DELTA} to {_MAX_DELTA}"
        problems.append(FieldError(f"{where}.delta", message, "value_error"))
    if len(reason) > 200 or "\x00" in reason:
        problems.append(FieldError(f"{where}.reason", "at most 200 characters", "string"))
    if len(problems) > found or delta is None:
        return None
    return ImportLine(number, sku, delta, reason)


@dataclass(slots=True)
class StockImportReport:
    """What an import did so far; kept in the job's checkpoint, so it survives a crash."""

    next_index: int = 0
    applied: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def rejected(self, line: ImportLine, error: AppError) -> None:
        """Count a line the stock refused (the first 1000 are kept with their reason)."""
        self.failed += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(
                {"line": line.line, "sku": line.sku, "code": error.code, "message": error.message}
            )

    def to_checkpoint(self) -> dict[str, Any]:
        """The checkpoint written with each batch."""
        return {
            "next_index": self.next_index,
            "applied": self.applied,
            "failed": self.failed,
            "errors": list(self.errors),
        }

    @classmethod
    def from_checkpoint(cls, value: Mapping[str, Any] | None) -> StockImportReport:
        """Resume from a checkpoint (a fresh report without one)."""
        if not value:
            return cls()
        return cls(
            next_index=int(value["next_index"]),
            applied=int(value["applied"]),
            failed=int(value["failed"]),
            errors=list(value["errors"]),
        )

    def result(self, rows: int) -> dict[str, Any]:
        """The job's result (the contract's ``StockImportResult``)."""
        return {
            "rows": rows,
            "applied": self.applied,
            "failed": self.failed,
            "errors": list(self.errors),
            "errors_truncated": self.failed > len(self.errors),
        }


def batches(lines: Sequence[ImportLine], start: int, size: int) -> Iterable[range]:
    """Index ranges of ``size`` lines from ``start`` (the checkpoint's ``next_index``)."""
    for first in range(start, len(lines), size):
        yield range(first, min(len(lines), first + size))
