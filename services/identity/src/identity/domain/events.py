"""Domain events: facts identity records, published as integration events through the outbox.

They carry ids and roles only: no email or name, so copies in topics hold no personal data.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.auth.principal import Role

__all__ = ["DomainEvent", "MembershipChange", "MembershipChanged", "UserRegistered"]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Base of identity's events: the org they belong to and when they happened."""

    org_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class UserRegistered(DomainEvent):
    """A person signed up, creating their user and their first org."""

    user_id: uuid.UUID


class MembershipChange(enum.StrEnum):
    """What happened to a membership."""

    ADDED = "added"
    ROLE_CHANGED = "role_changed"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class MembershipChanged(DomainEvent):
    """A user joined an org, changed role in it, or left it."""

    user_id: uuid.UUID
    change: MembershipChange
    role: Role | None
    previous_role: Role | None
    changed_by: uuid.UUID
