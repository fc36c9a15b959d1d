"""Lane ownership across relay replicas, through PostgreSQL session advisory locks.

Every replica keeps one dedicated *control* connection. On it, it holds one *member* lock
(``(members_ns, slot)``, a random slot) for as long as it lives, and one *lane* lock
(``(lanes_ns, lane)``) per lane it owns. Locks vanish with the session, so a crashed or
partitioned replica frees its lanes without any lease bookkeeping; PostgreSQL's
``idle_session_timeout`` frees the lanes of a frozen one.

Fairness: each replica counts the members in ``pg_locks`` and aims for
``ceil(lanes / members)`` lanes, preferring its own contiguous block (by its rank among the
member slots) so the assignment settles instead of churning. A replica over its share releases
its least-preferred lanes (only between publish rounds); one under its share try-locks free
lanes. The sum of the shares covers every lane, so no lane stays unowned for long.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from shared.outbox._pg import PgConnection
from shared.outbox._schema import OutboxNames

__all__ = ["LaneLeases", "LanePlan", "fair_share", "plan_lanes", "preferred_lanes"]

_LOCKS_SQL = """
SELECT classid::bigint AS ns, objid::bigint AS id, pid = pg_backend_pid() AS mine
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 2 AND granted
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND classid::bigint IN ($1::bigint, $2::bigint)
"""
# The filter runs row by row under the LIMIT, so at most ``$3`` locks are taken.
_ACQUIRE_SQL = (
    "SELECT l FROM unnest($2::int[]) AS l WHERE pg_try_advisory_lock($1::int, l) LIMIT $3"
)
_RELEASE_SQL = "SELECT pg_advisory_unlock($1::int, l) FROM unnest($2::int[]) AS l"
_JOIN_SQL = "SELECT pg_try_advisory_lock($1::int, $2::int)"


def fair_share(lanes: int, members: int) -> int:
    """Return how many lanes one of ``members`` replicas should own: ``ceil(lanes/members)``."""
    return math.ceil(lanes / max(members, 1))


def preferred_lanes(lanes: int, rank: int, members: int) -> list[int]:
    """Return every lane, this replica's own block first, then the others in ring order."""
    members = max(members, 1)
    rank = min(max(rank, 0), members - 1)
    start, end = rank * lanes // members, (rank + 1) * lanes // members
    return [*range(start, end), *range(end, lanes), *range(0, start)]


@dataclass(frozen=True, slots=True)
class LanePlan:
    """What one rebalancing step does: lanes to release, then how many to try to acquire."""

    release: tuple[int, ...]
    acquire: int
    candidates: tuple[int, ...]


def plan_lanes(owned: frozenset[int], *, lanes: int, rank: int, members: int) -> LanePlan:
    """Plan a step towards this replica's fair share, preferring its own block."""
    order = preferred_lanes(lanes, rank, members)
    position = {lane: i for i, lane in enumerate(order)}
    target = fair_share(lanes, members)
    surplus = len(owned) - target
    release: tuple[int, ...] = ()
    if surplus > 0:
        release = tuple(sorted(owned, key=lambda lane: -position.get(lane, lanes))[:surplus])
    need = max(0, target - len(owned))
    candidates = tuple(lane for lane in order if lane not in owned) if need else ()
    return LanePlan(release=release, acquire=need, candidates=candidates)


class LaneLeases:
    """The lanes this replica owns, kept as advisory locks on its control connection."""

    def __init__(self, names: OutboxNames, lanes: int) -> None:
        """Prepare the lock namespaces of the table ``names``; nothing is locked yet."""
        self.lanes = lanes
        self._lanes_ns = names.lock_namespace("lanes")
        self._members_ns = names.lock_namespace("members")
        self._slot: int | None = None
        self.owned: frozenset[int] = frozenset()
        self.members = 0

    def forget(self) -> None:
        """The control session is gone, and PostgreSQL released its locks with it."""
        self._slot = None
        self.owned = frozenset()

    async def join(self, conn: PgConnection, *, timeout: float) -> None:  # noqa: ASYNC109
        """Register as a member (a random slot; retried on the rare collision)."""
        while self._slot is None:
            slot = secrets.randbelow(2**31 - 1) + 1
            if await conn.fetchval(_JOIN_SQL, self._members_ns, slot, timeout=timeout):
                self._slot = slot

    async def survey(self, conn: PgConnection, *, timeout: float) -> LanePlan:  # noqa: ASYNC109
        """Read members and held lanes from ``pg_locks`` and plan the next step."""
        rows = await conn.fetch(_LOCKS_SQL, self._lanes_ns, self._members_ns, timeout=timeout)
        slots = sorted(r["id"] for r in rows if r["ns"] == self._members_ns)
        # What the server says we hold wins over what we think we hold.
        self.owned = frozenset(
            int(r["id"]) for r in rows if r["ns"] == self._lanes_ns and r["mine"]
        )
        self.members = max(len(slots), 1)
        rank = slots.index(self._slot) if self._slot in slots else 0
        return plan_lanes(self.owned, lanes=self.lanes, rank=rank, members=self.members)

    async def acquire(
        self,
        conn: PgConnection,
        candidates: Sequence[int],
        count: int,
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> frozenset[int]:
        """Try-lock up to ``count`` of ``candidates`` (in order); return the lanes gained."""
        if count <= 0 or not candidates:
            return frozenset()
        rows = await conn.fetch(
            _ACQUIRE_SQL, self._lanes_ns, list(candidates), count, timeout=timeout
        )
        gained = frozenset(int(r["l"]) for r in rows)
        self.owned |= gained
        return gained

    async def release(
        self,
        conn: PgConnection,
        lanes: Sequence[int],
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        """Unlock ``lanes``; call only when no publish round uses them."""
        if lanes:
            await conn.fetch(_RELEASE_SQL, self._lanes_ns, list(lanes), timeout=timeout)
            self.owned -= frozenset(lanes)
