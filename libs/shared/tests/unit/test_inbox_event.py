"""InboxEvent's checks for handlers: the causation id and the tenant of the envelope."""

from __future__ import annotations

import uuid

import pytest

from shared.errors import ValidationError
from shared.inbox import InboxEvent


def event(event_id: str, org_id: str | None) -> InboxEvent:
    return InboxEvent(
        id=event_id,
        type="ordo.t.v1",
        source=None,
        subject=None,
        time=None,
        org_id=org_id,
        key=None,
        data={},
        headers=(),
        topic="t",
        partition=0,
        offset=0,
        attempt=1,
    )


def test_the_causation_id_is_the_event_id() -> None:
    event_id = uuid.uuid4()
    assert event(str(event_id), None).causation_id() == event_id


def test_an_event_id_that_is_no_uuid_is_a_permanent_error() -> None:
    with pytest.raises(ValidationError, match="ce_id is not a UUID"):
        event("evt-1", None).causation_id()


def test_the_payload_org_must_be_the_envelopes() -> None:
    org = uuid.uuid4()
    event(str(uuid.uuid4()), str(org)).require_org(org)
    event(str(uuid.uuid4()), str(org)).require_org(str(org))
    event(str(uuid.uuid4()), None).require_org(org)  # no ce_orgid: nothing to compare
    with pytest.raises(ValidationError, match="differs from ce_orgid"):
        event(str(uuid.uuid4()), str(org)).require_org(uuid.uuid4())
