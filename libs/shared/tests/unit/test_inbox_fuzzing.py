"""shared.inbox.fuzzing tells a typed, permanent refusal from any other failure, and drives a
handler through the consumer's own decoding."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from shared.errors import InfrastructureError, ValidationError
from shared.inbox import InboxEvent
from shared.inbox.fuzzing import Recorder, assert_applied_or_refused

HEADERS = [("ce_id", b"0192b5a0-0000-7000-8000-000000000001"), ("ce_type", b"t.v1")]
VALUE = json.dumps({"n": 1}).encode()


class _Payload(BaseModel):
    n: int


def table(fail: BaseException | None) -> dict[str, Any]:
    async def handle(event: InboxEvent, context: object) -> None:
        _Payload.model_validate(event.data)
        if fail is not None:
            raise fail

    return {"t.v1": handle}


def test_applied_and_typed_permanent_failures_pass() -> None:
    assert_applied_or_refused(table(None), HEADERS, VALUE)
    assert_applied_or_refused(table(ValidationError("bad")), HEADERS, VALUE)
    assert_applied_or_refused(table(None), HEADERS, b'{"n": "x"}')  # pydantic's refusal
    assert_applied_or_refused(table(None), [("ce_id", b"x"), ("ce_type", b"other")], VALUE)


@pytest.mark.parametrize("exc", [KeyError("n"), TypeError("x"), InfrastructureError("down")])
def test_untyped_or_transient_failures_fail_the_test(exc: BaseException) -> None:
    with pytest.raises(AssertionError, match="not a permanent, typed failure"):
        assert_applied_or_refused(table(exc), HEADERS, VALUE)


async def test_the_recorder_stands_for_any_use_case() -> None:
    recorder = Recorder()
    await recorder.place_order.apply(None, 1)
    await recorder.cancel.apply(None, 2)
    assert recorder.calls == [("place_order", 1), ("cancel", 2)]
