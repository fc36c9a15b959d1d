from __future__ import annotations

import io
import json
import logging
from datetime import datetime
from typing import Any

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.observability import configure_logging, scrub_pii
from shared.observability.logging import REDACTED

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLWJ5dGVz"


def test_a_line_is_one_json_object_with_the_standard_fields(logs: Any) -> None:
    structlog.get_logger("orders").info("order_placed", order_id="o-1")

    [line] = logs.lines
    assert line["event"] == "order_placed"
    assert line["order_id"] == "o-1"
    assert line["level"] == "info"
    assert line["logger"] == "orders"
    assert line["service"] == "unit-svc"
    assert line["timestamp"].endswith("Z")
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() is not None


def test_lines_inside_a_span_carry_its_ids(logs: Any, span_exporter: InMemorySpanExporter) -> None:
    with trace.get_tracer("test").start_as_current_span("work") as span:
        structlog.get_logger().info("inside")
    structlog.get_logger().info("outside")

    inside, outside = logs.lines
    context = span.get_span_context()
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert "trace_id" not in outside
    assert "span_id" not in outside


def test_contextvars_are_merged(logs: Any) -> None:
    with structlog.contextvars.bound_contextvars(
        request_id="r-1", event_id="e-1", user_id="u-1", org_id="org-1"
    ):
        structlog.get_logger().info("bound")
    structlog.get_logger().info("unbound")

    bound, unbound = logs.lines
    assert {k: bound[k] for k in ("request_id", "event_id", "user_id", "org_id")} == {
        "request_id": "r-1",
        "event_id": "e-1",
        "user_id": "u-1",
        "org_id": "org-1",
    }
    assert "request_id" not in unbound


@pytest.mark.parametrize("name", ["uvicorn.error", "aiokafka.consumer", "sqlalchemy.engine"])
def test_stdlib_loggers_use_the_same_renderer(
    logs: Any, span_exporter: InMemorySpanExporter, name: str
) -> None:
    with trace.get_tracer("test").start_as_current_span("work"):
        logging.getLogger(name).warning("broker %s is slow", "b-1", extra={"partition": 3})

    [line] = logs.lines
    assert line["event"] == "broker b-1 is slow"
    assert line["logger"] == name
    assert line["level"] == "warning"
    assert line["service"] == "unit-svc"
    assert line["partition"] == 3
    assert len(line["trace_id"]) == 32


def test_uvicorn_handlers_are_replaced_by_propagation(logs: Any) -> None:
    uvicorn_logger = logging.getLogger("uvicorn.error")
    uvicorn_logger.addHandler(logging.StreamHandler(io.StringIO()))

    configure_logging("unit-svc", "DEBUG", stream=logs.stream)

    assert uvicorn_logger.handlers == []
    assert uvicorn_logger.propagate


def test_sensitive_keys_are_redacted_at_any_depth(logs: Any) -> None:
    structlog.get_logger().info(
        "login",
        password="hunter2",
        refresh_token="abc",
        headers={"Authorization": "Bearer abc", "Cookie": "sid=1", "X-Api-Key": "k"},
        user={"email": "ann@example.com", "phone": "+33 6 00 00 00 00", "name": "Ann"},
        client_secret="s",
    )

    [line] = logs.lines
    assert line["password"] == REDACTED
    assert line["refresh_token"] == REDACTED
    assert line["client_secret"] == REDACTED
    assert line["headers"] == {"Authorization": REDACTED, "Cookie": REDACTED, "X-Api-Key": REDACTED}
    assert line["user"] == {"email": REDACTED, "phone": REDACTED, "name": "Ann"}


def test_jwts_emails_and_url_passwords_are_cut_out_of_values(logs: Any) -> None:
    structlog.get_logger().info(
        "sent mail to ann@example.com",
        note=f"token was {JWT}",
        target="postgresql://ordo:hunter2@db:5432/orders",
        items=["bob@example.org", 3],
    )

    [line] = logs.lines
    assert line["event"] == f"sent mail to {REDACTED}"
    assert line["note"] == f"token was {REDACTED}"
    assert line["target"] == f"postgresql://ordo:{REDACTED}@db:5432/orders"
    assert line["items"] == [REDACTED, 3]


def test_exceptions_are_rendered_without_locals_and_scrubbed(logs: Any) -> None:
    def fail(password: str) -> None:
        raise RuntimeError(f"login failed for ann@example.com with {password}")

    try:
        fail("hunter2")
    except RuntimeError:
        structlog.get_logger().exception("login_failed")

    [line] = logs.lines
    [exception] = line["exception"]
    assert exception["exc_type"] == "RuntimeError"
    assert exception["exc_value"] == f"login failed for {REDACTED} with hunter2"
    assert all("locals" not in frame for frame in exception["frames"])
    assert "hunter2" not in json.dumps(exception["frames"])


def test_non_json_values_are_stringified(logs: Any) -> None:
    import uuid  # noqa: PLC0415

    value = uuid.UUID(int=1)
    structlog.get_logger().info("typed", order_id=value, when=datetime(2026, 1, 1))

    [line] = logs.lines
    assert line["order_id"] == str(value)
    assert line["when"] == "2026-01-01 00:00:00"


def test_configure_twice_writes_each_line_once(logs: Any) -> None:
    configure_logging("unit-svc", "DEBUG", stream=logs.stream)
    configure_logging("renamed-svc", "DEBUG", stream=logs.stream)
    structlog.get_logger().info("once")
    logging.getLogger("lib").info("once too")

    assert [line["event"] for line in logs.lines] == ["once", "once too"]
    assert {line["service"] for line in logs.lines} == {"renamed-svc"}


def test_the_level_filters_both_kinds_of_logger(logs: Any) -> None:
    configure_logging("unit-svc", "warning", stream=logs.stream)
    structlog.get_logger().info("dropped")
    logging.getLogger("lib").info("dropped too")
    structlog.get_logger().warning("kept")

    assert [line["event"] for line in logs.lines] == ["kept"]


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("unit-svc", "LOUD")


def test_scrub_pii_is_a_plain_processor() -> None:
    scrubbed = scrub_pii(None, "info", {"event": "x", "api_key": "k", "count": 1})

    assert scrubbed == {"event": "x", "api_key": REDACTED, "count": 1}
