"""Property-based fuzzing of a consumer's handler table, for services' unit tests (hypothesis).

A record from the broker can carry anything: any headers, any bytes, JSON of any shape. What a
consumer does with it must be one of two things: apply it, or fail *permanently* with a typed
error (a dead letter naming the reason). Anything else (a ``KeyError``, a ``TypeError``, a
transient error for what is really bad data) means a record the consumer cannot classify,
retried forever or dead-lettered as "the handler raised X". Each service's test drives its own
handler tables through :func:`deliver` (the consumer's own decoding path, no IO) with the
strategies here and its payload strategies, and checks :func:`failed_permanently`.

Hypothesis is a development dependency: import this module from tests only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st
from pydantic import ValidationError as PydanticValidationError

from shared.errors import AppError, is_transient
from shared.inbox._event import (
    Handler,
    UnknownEventTypeError,
    build_event,
    content_type,
    decode_payload,
    read_envelope,
)
from shared.inbox._headers import CE_ID, CE_ORGID, CE_TYPE
from shared.runtime import run

__all__ = [
    "Recorder",
    "assert_applied_or_refused",
    "deliver",
    "failed_permanently",
    "json_values",
    "mutated",
    "records",
    "storable_json_values",
]

Headers = list[tuple[str, bytes]]

_TRICKY = st.text(
    alphabet=st.sampled_from(["a", "0", "-", "\x00", "\ud800", "é", "😀"]), max_size=8
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    _TRICKY,
)
#: Any JSON value: what a producer that got the contract wrong could send.
json_values: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=12,
)


_STORABLE_TEXT = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
#: Any JSON value a contract-abiding producer could send: its text (keys and strings alike) is
#: what PostgreSQL can store, no NUL and no lone surrogate (those are refused with a typed
#: error, which the fuzz of :data:`json_values` covers).
storable_json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        st.text(alphabet=_STORABLE_TEXT, max_size=40),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(alphabet=_STORABLE_TEXT, max_size=12), inner, max_size=5),
    ),
    max_leaves=12,
)


def mutated(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Any]:
    """A valid payload with one change: a member dropped, or its value replaced by any JSON
    value (the near misses a fuzzer finds hardest to reach from random bytes)."""

    @st.composite
    def one_change(draw: st.DrawFn) -> Any:
        payload = dict(draw(valid))
        if not payload:
            return payload
        name = draw(st.sampled_from(sorted(payload)))
        if draw(st.booleans()):
            del payload[name]
        else:
            payload[name] = draw(json_values)
        return payload

    return one_change()


def _encoded(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def records(
    event_types: Sequence[str], valid: st.SearchStrategy[dict[str, Any]]
) -> st.SearchStrategy[tuple[Headers, bytes | None]]:
    """``(headers, value)`` pairs for a consumer handling ``event_types``: a known or unknown
    type, a sane or strange event id and org header, extra headers of any bytes; a value that
    is valid, mutated, any JSON, or any bytes."""
    types = st.one_of(st.sampled_from(list(event_types)), st.text(max_size=30))
    ids = st.one_of(st.uuids().map(str), st.text(max_size=30))
    orgs = st.one_of(st.none(), st.uuids().map(str), st.text(max_size=40))
    extra = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=64)), max_size=4)
    values = st.one_of(
        valid.map(_encoded),
        mutated(valid).map(_encoded),
        json_values.map(_encoded),
        st.none(),
        st.binary(max_size=512),
    )

    @st.composite
    def one(draw: st.DrawFn) -> tuple[Headers, bytes | None]:
        headers: Headers = [
            (CE_ID, draw(ids).encode("utf-8", "surrogatepass")),
            (CE_TYPE, draw(types).encode("utf-8", "surrogatepass")),
        ]
        org = draw(orgs)
        if org is not None:
            headers.append((CE_ORGID, org.encode("utf-8", "surrogatepass")))
        headers += draw(extra)
        return headers, draw(values)

    return one()


@dataclass
class _Call:
    name: str
    calls: list[tuple[str, Any]]

    async def apply(self, context: object, payload: Any) -> None:
        del context
        self.calls.append((self.name, payload))


@dataclass
class Recorder:
    """Stands for a service's use cases: ``use_cases.<name>.apply(uow, input)`` records
    ``(name, input)`` and does nothing else, so the handlers' own decoding is what runs."""

    calls: list[tuple[str, Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> _Call:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Call(name, self.calls)


async def deliver(
    handlers: Mapping[str, Handler[Any]],
    headers: Headers,
    value: bytes | None,
    *,
    key: bytes | None = None,
    context: object = None,
) -> None:
    """Decode a record as the consumer does and run its handler (``context`` as the uow)."""
    event_id, event_type = read_envelope(headers)
    handler = handlers.get(event_type)
    if handler is None:
        raise UnknownEventTypeError(f"No handler for event type {event_type[:100]!r}.")
    data = decode_payload(value, content_type(headers))
    event = build_event(
        event_id=event_id,
        event_type=event_type,
        data=data,
        key=key,
        headers=headers,
        topic="fuzz",
        partition=0,
        offset=0,
        attempt=1,
    )
    await handler(event, context)


def failed_permanently(exc: BaseException) -> bool:
    """True for the failures a consumer dead-letters with a reason: a non-transient
    ``AppError`` or a payload that failed its model's validation."""
    typed = isinstance(exc, AppError | PydanticValidationError)
    return typed and not is_transient(exc)


def assert_applied_or_refused(
    handlers: Mapping[str, Handler[Any]], headers: Headers, value: bytes | None
) -> None:
    """Deliver the record (its own event loop); fail the test unless the handler applied it
    or it failed permanently with a typed error (what :func:`failed_permanently` accepts)."""
    try:
        run(deliver(handlers, headers, value))
    except Exception as exc:  # classified just below
        if not failed_permanently(exc):
            kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
            raise AssertionError(f"{kind} is not a permanent, typed failure: {exc}") from exc
