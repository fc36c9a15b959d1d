"""The pure parts of the outbox: lanes, headers, payloads, round settling, lane planning."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry import trace
from sqlalchemy import MetaData

from shared.clock import FrozenClock
from shared.outbox import (
    CE_DATACONTENTTYPE,
    CE_ID,
    CE_ORGID,
    CE_SOURCE,
    CE_SPECVERSION,
    CE_SUBJECT,
    CE_TIME,
    CE_TYPE,
    CONTENT_TYPE,
    Outbox,
    OutboxMessage,
    OutboxNames,
    OutboxRelay,
    RelayConfig,
    RelayWakeup,
    build_headers,
    encode_payload,
    fair_share,
    lane_for,
    outbox_table,
    plan_lanes,
    preferred_lanes,
)
from shared.outbox._publish import partition_for, settle
from shared.outbox._store import OutboxRow, uuid7_floor
from shared.settings import DatabaseSettings

AT = datetime(2026, 11, 26, 12, 30, 0, 123456, tzinfo=UTC)


def msg(**overrides) -> OutboxMessage:
    fields = {
        "topic": "orders.events",
        "key": "order-1",
        "type": "ordo.orders.placed.v1",
        "payload": {"a": 1},
    }
    fields.update(overrides)
    return OutboxMessage(**fields)


# -- lanes ---------------------------------------------------------------------------------------


def test_a_key_always_lands_in_the_same_lane() -> None:
    # CRC-32 of the UTF-8 key: fixed values, so writers and relays of any version agree.
    assert lane_for("order-1", 64) == lane_for("order-1", 64)
    assert lane_for("", 64) == 0
    assert lane_for("123456789", 1 << 32) == 0xCBF43926  # the CRC-32 check value


@given(st.text(min_size=1), st.integers(min_value=1, max_value=32767))
def test_lanes_are_in_range(key: str, lanes: int) -> None:
    assert 0 <= lane_for(key, lanes) < lanes


def test_keys_spread_evenly_over_lanes() -> None:
    counts = [0] * 64
    for i in range(64_000):
        counts[lane_for(str(uuid.UUID(int=i * 7919)), 64)] += 1
    assert min(counts) > 800
    assert max(counts) < 1200


def test_lane_count_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lanes"):
        lane_for("k", 0)


# -- headers and payloads --------------------------------------------------------------------------


def test_headers_carry_every_cloudevents_attribute_in_binary_mode() -> None:
    message = msg(org_id=uuid.UUID(int=5), subject="orders/order-1", headers={"x-extra": "1"})
    headers = build_headers(message, source="/ordo/orders", time=AT)
    assert headers[CE_SPECVERSION] == "1.0"
    assert headers[CE_ID] == str(message.event_id)
    assert uuid.UUID(headers[CE_ID]).version == 7
    assert headers[CE_SOURCE] == "/ordo/orders"
    assert headers[CE_TYPE] == "ordo.orders.placed.v1"
    assert headers[CE_TIME] == "2026-11-26T12:30:00.123456Z"
    assert headers[CE_SUBJECT] == "orders/order-1"
    assert headers[CE_DATACONTENTTYPE] == "application/json"
    assert headers[CONTENT_TYPE] == "application/json"
    assert headers[CE_ORGID] == str(uuid.UUID(int=5))
    assert headers["x-extra"] == "1"


def test_the_subject_defaults_to_the_key_and_the_message_time_wins() -> None:
    own_time = AT - timedelta(hours=1)
    headers = build_headers(msg(time=own_time), source="s", time=AT)
    assert headers[CE_SUBJECT] == "order-1"
    assert headers[CE_TIME] == "2026-11-26T11:30:00.123456Z"
    assert CE_ORGID not in headers


def test_headers_carry_the_current_trace_context(span_exporter) -> None:
    with trace.get_tracer("test").start_as_current_span("request") as span:
        headers = build_headers(msg(), source="s", time=AT)
    context = span.get_span_context()
    version, trace_id, span_id, _flags = headers["traceparent"].split("-")
    assert (version, trace_id, span_id) == (
        "00",
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
    )


def test_without_a_current_span_no_trace_header_is_written() -> None:
    assert "traceparent" not in build_headers(msg(), source="s", time=AT)


@pytest.mark.parametrize("name", ["ce_id", "CE_TYPE", "traceparent", "content-type"])
def test_reserved_headers_cannot_be_overridden(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be overridden"):
        msg(headers={name: "x"})


@pytest.mark.parametrize("missing", ["topic", "key", "type"])
def test_a_message_needs_topic_key_and_type(missing: str) -> None:
    with pytest.raises(ValueError, match="needs a topic"):
        msg(**{missing: ""})


def test_payloads_are_compact_json_and_encoded_bytes_pass_through() -> None:
    body = {"id": uuid.UUID(int=1), "at": AT, "amount": Decimal("9.90"), "name": "Zoë"}
    encoded = encode_payload(body)
    assert json.loads(encoded) == {
        "id": str(uuid.UUID(int=1)),
        "at": AT.isoformat(),
        "amount": "9.90",
        "name": "Zoë",
    }
    assert " " not in encoded.replace("Zoë", "")
    assert encode_payload(b'{"raw": true}') == '{"raw": true}'
    assert encode_payload('{"text": 1}') == '{"text": 1}'
    with pytest.raises(TypeError, match="not JSON serialisable"):
        encode_payload({"x": object()})


def test_a_row_has_the_lane_of_its_key_and_the_clock_time() -> None:
    table = outbox_table(MetaData(), "outbox")
    outbox = Outbox(table, source="/ordo/test", lanes=16, clock=FrozenClock(AT))
    message = msg(key="order-42")
    row = outbox.to_row(message)
    assert row["id"] == message.event_id
    assert row["lane"] == lane_for("order-42", 16)
    assert json.loads(row["payload"]) == {"a": 1}
    assert json.loads(row["headers"])[CE_TIME] == "2026-11-26T12:30:00.123456Z"


def test_names_quote_identifiers_and_keep_channels_short() -> None:
    names = OutboxNames('we"ird', "svc")
    assert names.qualified == '"svc"."we""ird"'
    long = OutboxNames("x" * 60)
    assert len(long.channel.encode()) <= 63
    assert long.channel != OutboxNames("x" * 59 + "y").channel
    assert names.lock_namespace("lanes") != names.lock_namespace("members")
    assert 0 <= names.lock_namespace("lanes") < 2**31


# -- settling a round --------------------------------------------------------------------------


def row(seq: int, lane: int) -> OutboxRow:
    return OutboxRow(
        id=uuid.UUID(int=seq),
        seq=seq,
        lane=lane,
        topic="t",
        key=f"k{lane}",
        payload=b"{}",
        headers=[],
        attempts=0,
    )


def test_a_lane_stops_at_its_first_failure_and_other_lanes_go_on() -> None:
    rows = [row(1, 0), row(2, 1), row(3, 0), row(4, 1), row(5, 0), row(6, 1)]
    boom = RuntimeError("boom")
    result = settle(rows, [None, None, boom, None, None, False])
    assert [r.seq for r in result.published] == [1, 2, 4]
    assert result.failed[0] == (rows[2], boom)
    assert result.failed[1] == (rows[5], None)  # no answer in time


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["ok", "err", "late"])), max_size=40))
def test_what_is_marked_is_always_an_acknowledged_prefix_of_each_lane(plan) -> None:
    rows = [row(i, lane) for i, (lane, _) in enumerate(plan)]
    outcomes = [None if o == "ok" else (RuntimeError() if o == "err" else False) for _, o in plan]
    result = settle(rows, outcomes)
    for lane in range(4):
        lane_rows = [(r, o) for r, o in zip(rows, outcomes, strict=True) if r.lane == lane]
        marked = [r for r in result.published if r.lane == lane]
        prefix = []
        for r, o in lane_rows:
            if o is not None:
                break
            prefix.append(r)
        assert marked == prefix


# -- lane planning ---------------------------------------------------------------------------------


def test_fair_share_covers_every_lane() -> None:
    assert fair_share(64, 1) == 64
    assert fair_share(64, 3) == 22
    assert fair_share(64, 0) == 64
    assert preferred_lanes(8, 1, 2)[:4] == [4, 5, 6, 7]
    assert sorted(preferred_lanes(10, 2, 3)) == list(range(10))


def test_a_replica_over_its_share_releases_its_least_preferred_lanes() -> None:
    plan = plan_lanes(frozenset(range(64)), lanes=64, rank=0, members=2)
    assert sorted(plan.release) == list(range(32, 64))
    assert plan.acquire == 0


def simulate(lanes: int, members: int, initial: list[set[int]], steps: int) -> list[set[int]]:
    owned = [set(s) for s in initial]
    for _ in range(steps):
        for rank in range(members):
            plan = plan_lanes(frozenset(owned[rank]), lanes=lanes, rank=rank, members=members)
            owned[rank] -= set(plan.release)
            taken = set().union(*owned)
            for lane in plan.candidates:
                if plan.acquire == 0 or len(owned[rank]) >= fair_share(lanes, members):
                    break
                if lane not in taken:  # pg_try_advisory_lock succeeds only on a free lane
                    owned[rank].add(lane)
                    taken.add(lane)
    return owned


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 128).flatmap(
        lambda lanes: st.tuples(
            st.just(lanes),
            st.integers(1, 8),
            st.lists(st.integers(0, 8), min_size=lanes, max_size=lanes),
        )
    )
)
def test_replicas_converge_to_a_fair_disjoint_cover_of_all_lanes(case) -> None:
    lanes, members, holders = case
    initial = [{lane for lane, h in enumerate(holders) if h == m} for m in range(members)]
    owned = simulate(lanes, members, initial, steps=3)
    everyone = [lane for s in owned for lane in s]
    assert len(everyone) == len(set(everyone)), "a lane has two owners"
    assert set(everyone) == set(range(lanes)), "a lane has no owner"
    assert max(len(s) for s in owned) <= fair_share(lanes, members)


# -- configuration, doorbell, ids ------------------------------------------------------------------


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="lanes"):
        RelayConfig(lanes=0)
    with pytest.raises(ValueError, match="publishers"):
        RelayConfig(lanes=4, publishers=5)
    with pytest.raises(ValueError, match="poll_interval_s"):
        RelayConfig(poll_interval_s=0)
    with pytest.raises(ValueError, match="idle_session_timeout_s"):
        RelayConfig(rebalance_interval_s=20)


async def test_a_ring_during_a_round_is_not_lost() -> None:
    wakeup = RelayWakeup()
    seen = wakeup.generation
    wakeup.ring()  # a commit while the loop was reading
    assert await wakeup.wait(seen, timeout=5) is True
    seen = wakeup.generation
    assert await wakeup.wait(seen, timeout=0.01) is False
    waiter = asyncio.create_task(wakeup.wait(seen, timeout=5))
    await asyncio.sleep(0)
    wakeup.ring()
    assert await asyncio.wait_for(waiter, 1) is True


async def test_a_ring_for_some_lanes_wakes_only_the_loops_serving_them() -> None:
    wakeup = RelayWakeup(slots=2)  # loop 0 serves even lanes, loop 1 odd ones
    seen = [wakeup.generation_of(0), wakeup.generation_of(1)]
    waiters = [asyncio.create_task(wakeup.wait(seen[i], timeout=0.2, slot=i)) for i in (0, 1)]
    await asyncio.sleep(0)
    wakeup.ring({3, 7})
    assert await asyncio.gather(*waiters) == [False, True]
    wakeup.ring({4})
    assert wakeup.generation_of(0) == seen[0] + 1
    assert wakeup.generation_of(1) == seen[1] + 1
    wakeup.ring()  # lanes unknown (a NOTIFY): every loop
    assert [wakeup.generation_of(0), wakeup.generation_of(1)] == [seen[0] + 2, seen[1] + 2]


async def test_a_relay_splits_its_doorbell_into_one_slot_per_publish_loop() -> None:
    wakeup = RelayWakeup()
    relay = OutboxRelay(
        database=DatabaseSettings(),
        producer_factory=lambda: pytest.fail("no producer is made before the relay runs"),
        service="test",
        config=RelayConfig(lanes=8, publishers=4),
        wakeup=wakeup,
    )
    assert relay.wakeup is wakeup
    wakeup.ring({5})  # lane 5 is loop 1's
    assert [wakeup.generation_of(i) for i in range(4)] == [0, 1, 0, 0]
    with pytest.raises(ValueError, match="slots"):
        RelayWakeup(slots=0)


def test_uuid7_floor_orders_before_every_id_of_its_millisecond() -> None:
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    floor = uuid7_floor(moment)
    millis = int(moment.timestamp() * 1000)
    same_ms = uuid.UUID(int=(millis << 80) | (7 << 76) | (2 << 62) | 12345)
    earlier = uuid.UUID(int=((millis - 1) << 80) | (7 << 76) | (0xFFF << 64) | (2 << 62) | 999)
    assert earlier.bytes < floor.bytes <= same_ms.bytes


@given(st.binary(min_size=1, max_size=64), st.integers(1, 500))
def test_the_relay_partitions_keys_exactly_like_kafkas_default_partitioner(
    key: bytes, partitions: int
) -> None:
    # Consumers rely on a key always landing in the same partition, whoever produced it.
    everyone = list(range(partitions))
    assert partition_for(key, partitions) == DefaultPartitioner()(key, everyone, everyone)
