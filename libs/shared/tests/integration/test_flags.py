"""Feature flags from a flagd file, through OpenFeature's real flagd provider (in process).

Per tenant (targeting on ``org_id``), changed at run time by rewriting the file, the last good
flags kept while the file does not parse, defaults when a flag or the file is missing.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.flags import OpenFeatureFlags, StaticFlags, process_flags

FLAG = "test.new-behaviour"
ORG_ID = uuid.UUID("0197a1b2-0000-7000-8000-000000000001")  # a UUID: targeted as its text


def flag_file(off_for: list[str], *, default: str = "on") -> dict[str, Any]:
    """One boolean flag, ``default`` for everyone but the orgs in ``off_for``."""
    return {
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            FLAG: {
                "state": "ENABLED",
                "variants": {"on": True, "off": False},
                "defaultVariant": default,
                "targeting": {"if": [{"in": [{"var": "org_id"}, off_for]}, "off", None]},
            }
        },
    }


def write(path: Path, content: dict[str, Any] | str) -> None:
    """Replace the file at once, as an operator's editor or a deploy would."""
    text = content if isinstance(content, str) else json.dumps(content)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def eventually(probe: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not probe():
        assert time.monotonic() < deadline, "the flag file's change was not picked up"
        time.sleep(0.05)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "flags.json"


@pytest.fixture
def opened(path: Path) -> Iterator[Callable[[], OpenFeatureFlags]]:
    made: list[OpenFeatureFlags] = []

    def open_() -> OpenFeatureFlags:
        made.append(OpenFeatureFlags(path, poll_ms=50))
        return made[-1]

    yield open_
    for flags in made:
        flags.close()


def test_a_flag_is_evaluated_per_tenant(path: Path, opened: Callable[[], OpenFeatureFlags]) -> None:
    other = str(uuid.uuid4())
    write(path, flag_file(off_for=[str(ORG_ID)]))
    flags = opened()

    assert flags.enabled(FLAG, org_id=ORG_ID, default=True) is False
    assert flags.enabled(FLAG, org_id=other, default=False) is True
    assert flags.enabled(FLAG, default=False) is True  # no tenant: the default variant
    assert flags.enabled("test.unknown", org_id=ORG_ID, default=True) is True
    assert flags.enabled("test.unknown", org_id=ORG_ID, default=False) is False


def test_a_flag_flipped_in_the_file_changes_without_a_restart(
    path: Path, opened: Callable[[], OpenFeatureFlags]
) -> None:
    write(path, flag_file(off_for=[]))
    flags = opened()
    assert flags.enabled(FLAG, org_id=ORG_ID, default=False) is True  # remembered now

    write(path, flag_file(off_for=[str(ORG_ID)]))
    eventually(lambda: flags.enabled(FLAG, org_id=ORG_ID, default=True) is False)
    assert flags.enabled(FLAG, org_id=uuid.uuid4(), default=False) is True  # only that tenant

    write(path, flag_file(off_for=[], default="off"))  # off for everyone
    eventually(lambda: flags.enabled(FLAG, org_id=uuid.uuid4(), default=True) is False)


def test_a_broken_file_keeps_the_last_good_flags(
    path: Path, opened: Callable[[], OpenFeatureFlags]
) -> None:
    write(path, flag_file(off_for=[str(ORG_ID)]))
    flags = opened()
    assert flags.enabled(FLAG, org_id=ORG_ID, default=True) is False

    write(path, "{ not json")
    time.sleep(0.3)  # several polls: what it would have done, it has done by now
    assert flags.enabled(FLAG, org_id=ORG_ID, default=True) is False

    write(path, flag_file(off_for=[]))  # repaired: read again
    eventually(lambda: flags.enabled(FLAG, org_id=ORG_ID, default=False) is True)


def test_no_file_means_every_flag_is_its_default() -> None:
    flags = process_flags(None)
    assert flags.enabled(FLAG, org_id=ORG_ID, default=True) is True
    assert flags.enabled(FLAG, org_id=ORG_ID, default=False) is False


def test_a_process_opens_a_file_once(path: Path) -> None:
    write(path, flag_file(off_for=[]))
    first = process_flags(path)
    assert process_flags(str(path)) is first
    assert isinstance(first, OpenFeatureFlags)
    first.close()


def test_static_flags_answer_per_org_before_everyone() -> None:
    flags = StaticFlags({FLAG: True})
    flags.set(FLAG, False, org_id=ORG_ID)
    assert flags.enabled(FLAG, org_id=ORG_ID, default=True) is False
    assert flags.enabled(FLAG, org_id=uuid.uuid4(), default=False) is True
    assert flags.enabled("test.unset", default=True) is True
