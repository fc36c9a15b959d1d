"""SQL helpers shared by catalog's repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.errors import ConflictError


async def insert_or_conflict(
    session: AsyncSession | AsyncConnection, statement: Any, conflict: ConflictError
) -> None:
    """Run ``statement`` in a savepoint; a unique violation raises ``conflict`` instead."""
    try:
        async with session.begin_nested():
            await session.execute(statement)
    except IntegrityError as exc:
        raise conflict from exc
