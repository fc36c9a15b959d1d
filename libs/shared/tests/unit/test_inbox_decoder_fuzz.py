"""Property: whatever bytes a record carries, the consumer's decoder either builds an event or
raises a permanent AppError (a dead letter with a reason); nothing else escapes it, so no record
can make the consumer take its own failure for the broker's and stop the partition."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import AppError, is_transient
from shared.inbox._event import build_event, content_type, decode_payload, read_envelope
from shared.inbox._headers import Origin, parse_dead_letter, parse_retry_state
from shared.text import unstorable_locations

header_names = st.one_of(
    st.sampled_from(
        ["ce_id", "ce_type", "ce_time", "ce_orgid", "ce_datacontenttype", "content-type"]
    ),
    st.text(max_size=20),
)
tricky = st.text(alphabet=st.sampled_from(["a", "\x00", "\ud800", "\udfff", "é", "😀"]), max_size=6)
headers = st.lists(st.tuples(header_names, st.binary(max_size=300)), max_size=12)
values = st.one_of(
    st.none(),
    st.binary(max_size=2000),
    st.from_regex(rb'\{"[a-z]{1,5}": ("[^"]{0,20}"|[0-9]{1,30}|null|\[\])\}', fullmatch=True),
    # JSON whose strings (keys too) may hold NUL or lone surrogates, escaped as JSON does.
    st.dictionaries(tricky, st.one_of(tricky, st.lists(tricky, max_size=3)), max_size=4).map(
        lambda d: json.dumps(d).encode()
    ),
)


@settings(max_examples=400, deadline=None)
@given(headers=headers, key=st.one_of(st.none(), st.binary(max_size=64)), value=values)
def test_any_record_decodes_or_fails_permanently(
    headers: list[tuple[str, bytes]], key: bytes | None, value: bytes | None
) -> None:
    failure: AppError | None = None
    try:
        event_id, event_type = read_envelope(headers)
        data = decode_payload(value, content_type(headers))
        build_event(
            event_id=event_id,
            event_type=event_type,
            data=data,
            key=key,
            headers=headers,
            topic="t",
            partition=0,
            offset=0,
            attempt=1,
        )
    except AppError as exc:
        failure = exc
    if failure is not None:
        assert not is_transient(failure)
    else:
        assert not unstorable_locations(data)


def test_an_event_with_a_nul_or_a_lone_surrogate_is_refused_permanently() -> None:
    for raw in (b'{"name": "a\\u0000b"}', b'{"name": "\\ud800"}', b'{"a\\u0000": 1}'):
        with pytest.raises(AppError) as caught:
            decode_payload(raw, "application/json")
        assert not is_transient(caught.value)


@settings(max_examples=300, deadline=None)
@given(headers=headers)
def test_forged_retry_and_dead_letter_headers_never_raise(headers: list[tuple[str, bytes]]) -> None:
    state = parse_retry_state(headers, Origin("t", 0, 0))
    assert state.attempts >= 0
    parse_dead_letter(headers)


def test_an_envelope_with_a_nul_is_invalid_not_a_database_error() -> None:
    for headers in (
        [("ce_id", b"a\x00b"), ("ce_type", b"t")],
        [("ce_id", b"a"), ("ce_type", b"t\x00")],
    ):
        with pytest.raises(AppError) as caught:
            read_envelope(headers)
        assert caught.value.code == "message.invalid_envelope"


def test_the_batch_claims_name_the_inbox_tables_of_the_schema() -> None:
    from shared.inbox._schema import INBOX_MESSAGES, INBOX_PARKED_KEYS  # noqa: PLC0415
    from shared.inbox._store import _CLAIM_BATCH, _PARKED_AMONG  # noqa: PLC0415

    assert f"INSERT INTO {INBOX_MESSAGES} " in str(_CLAIM_BATCH)
    assert f"FROM {INBOX_PARKED_KEYS} " in str(_CLAIM_BATCH)
    assert f"FROM {INBOX_PARKED_KEYS}\n" in str(_PARKED_AMONG)
