"""Read a permission matrix from a Markdown document (``docs/security.md``).

The matrix is written for people and checked by tests: a service's tests load its table and
compare it with the service's :class:`~shared.auth.principal.PermissionPolicy`, and generate the
endpoint x role x own/other-org cases from it. A table is introduced by an HTML comment
``<!-- permission-matrix: <service> -->`` and looks like::

    | permission | owner | admin | member | viewer |
    |---|---|---|---|---|
    | members.add | yes | yes | no | no |

A cell is granted when it reads ``yes``, ``✓`` or ``x``; anything else is denied.
"""

from __future__ import annotations

import re

from shared.auth.principal import Role

__all__ = ["parse_permission_matrix"]

_MARKER = re.compile(r"<!--\s*permission-matrix:\s*([\w.-]+)\s*-->")
_GRANTED = {"yes", "✓", "x", "✔"}


def parse_permission_matrix(markdown: str, service: str) -> dict[str, frozenset[Role]]:
    """Return ``permission -> roles`` from the table marked for ``service``.

    Raises:
        LookupError: no table is marked for ``service``.
        ValueError: the table's header names an unknown role or lacks a permission column.
    """
    lines = markdown.splitlines()
    start = next(
        (i for i, line in enumerate(lines) if (m := _MARKER.search(line)) and m[1] == service),
        None,
    )
    if start is None:
        raise LookupError(f"no permission matrix marked for {service!r}")
    rows = _table_rows(lines[start + 1 :])
    if not rows:
        raise ValueError(f"the permission matrix of {service!r} is empty")
    header, body = rows[0], rows[1:]
    if header[0].lower() != "permission":
        raise ValueError("the first column of a permission matrix must be 'permission'")
    roles = [Role(name.lower()) for name in header[1:] if name.lower() in set(Role)]
    matrix: dict[str, frozenset[Role]] = {}
    for cells in body:
        name = cells[0].strip("` ")
        granted = {
            role
            for role, cell in zip(roles, cells[1:], strict=False)
            if cell.strip().lower() in _GRANTED
        }
        matrix[name] = frozenset(granted)
    return matrix


def _table_rows(lines: list[str]) -> list[list[str]]:
    rows: list[list[str]] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if rows:
                break
            continue
        if not stripped.startswith("|"):
            break
        cells = [cell.strip() for cell in stripped.strip("|").split("|")]
        if all(set(cell) <= set("-: ") for cell in cells):
            continue  # the separator row
        rows.append(cells)
    return rows
