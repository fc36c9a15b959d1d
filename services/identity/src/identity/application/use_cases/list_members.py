"""ListMembers: the members of the caller's org with their roles, a page at a time.

Cursor pagination (contracts/README.md, "Lists"; ``shared.pagination``): ``cursor`` + ``limit``
(1-100), answered ``{items, next_cursor}``. Members are ordered by user id (UUID v7: the oldest
account first), a key that stays valid when members join or leave between pages. The list has
no filters, so its cursors are bound to the org: another org's cursor is 422.
"""

from __future__ import annotations

import uuid

from identity.application.authorization import authorize
from identity.application.ports import MemberView, UnitOfWorkFactory
from shared.auth.principal import Principal
from shared.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    decode_cursor,
    encode_cursor,
    page_of,
)

__all__ = ["ListMembers"]


class ListMembers:
    """Any member may list their org's members (``members.list``); another org is 404."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        principal: Principal,
        org_id: uuid.UUID,
        *,
        cursor: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Page[MemberView]:
        """Return up to ``limit`` members after ``cursor``, by user id.

        Raises:
            ValidationError: ``limit`` out of 1..100, or a malformed or foreign cursor (422).
        """
        check_limit(limit)
        bound = {"org_id": org_id}
        after = decode_cursor(cursor, bound)
        async with self._uow() as uow:
            await authorize(uow, principal, "members.list", org_id=org_id)
            rows = await uow.memberships.list_members(org_id=org_id, after=after, limit=limit + 1)
        return page_of(rows, limit, lambda member: encode_cursor(member.user_id, bound))
