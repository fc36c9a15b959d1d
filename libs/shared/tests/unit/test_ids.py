from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.ids import id_timestamp, new_id


def test_new_id_is_a_stdlib_uuid_v7() -> None:
    value = new_id()

    assert type(value) is uuid.UUID
    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_ids_are_time_ordered_and_unique() -> None:
    ids = [new_id() for _ in range(10_000)]

    assert ids == sorted(ids)
    assert ids == sorted(ids, key=str)  # the text form sorts the same way (index order)
    assert len(set(ids)) == len(ids)


def test_the_timestamp_is_the_creation_time() -> None:
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    stamp = id_timestamp(new_id())
    after = datetime.now(UTC) + timedelta(milliseconds=1)

    assert before <= stamp <= after
    assert stamp.tzinfo is UTC


def test_id_timestamp_rejects_other_versions() -> None:
    with pytest.raises(ValueError, match="UUID v7"):
        id_timestamp(uuid.uuid4())
