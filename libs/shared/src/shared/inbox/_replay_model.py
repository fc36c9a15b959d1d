"""What a replay selects and reports, and the headers of a re-driven record (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from shared.inbox._headers import (
    DLQ_PREFIX,
    H_REPLAY_ID,
    H_REPLAY_SOURCE,
    REPLAY_PREFIX,
    RETRY_PREFIX,
    DeadLetter,
    HeaderList,
    Headers,
    RetryState,
    retry_headers,
    strip_headers,
)

ReplayTarget = Literal["retry", "original"]
"""Where a dead letter is re-driven: the retry lane of the group that gave up, or its topic."""


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    """Which dead letters to re-drive; empty sets match everything.

    Attributes:
        since, until: the dead-lettering time (the DLQ record's timestamp), ``[since, until)``.
        error_codes: ``ordo-dlq-error-code`` values.
        event_types: CloudEvents types (``ce_type``).
        groups: consumer groups that gave up (``ordo-dlq-consumer-group``).
    """

    since: datetime | None = None
    until: datetime | None = None
    error_codes: frozenset[str] = field(default_factory=frozenset)
    event_types: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)

    def matches(
        self, letter: DeadLetter, event_type: str | None, dead_lettered_at: datetime
    ) -> bool:
        """Return True when a dead letter with these facts is selected."""
        if self.since is not None and dead_lettered_at < self.since:
            return False
        if self.until is not None and dead_lettered_at >= self.until:
            return False
        if self.error_codes and letter.error_code not in self.error_codes:
            return False
        if self.event_types and event_type not in self.event_types:
            return False
        return not self.groups or letter.group in self.groups

    def as_json(self) -> dict[str, Any]:
        """Return the filter as JSON-ready data, for the audit entry."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "error_codes": sorted(self.error_codes),
            "event_types": sorted(self.event_types),
            "groups": sorted(self.groups),
        }


@dataclass(slots=True)
class ReplayReport:
    """What one replay did; the same counts are stored in its audit entry."""

    replay_id: UUID
    dlq_topic: str
    target: ReplayTarget
    dry_run: bool
    scanned: int = 0
    matched: int = 0
    replayed: int = 0
    already_replayed: int = 0
    too_old: int = 0
    unreadable: int = 0

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        data = asdict(self)
        data["replay_id"] = str(self.replay_id)
        return data


def replay_headers(
    headers: Headers, letter: DeadLetter, *, replay_id: UUID, source: str, target: ReplayTarget
) -> HeaderList:
    """Return the headers of a re-driven record: the producer's, plus where it came from.

    To the retry lane it goes as a fresh retry (0 attempts) that remembers its origin, so a
    second failure is dead-lettered with the true original coordinates again.
    """
    kept = strip_headers(headers, (DLQ_PREFIX, RETRY_PREFIX, REPLAY_PREFIX))
    if target == "retry":
        kept = retry_headers(kept, RetryState(origin=letter.origin))
    return [*kept, (H_REPLAY_ID, str(replay_id).encode()), (H_REPLAY_SOURCE, source.encode())]
