"""Structured JSON logs on stdout, one object per line, for structlog and stdlib loggers alike.

Each line carries ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``service``, ``event``,
the current span's ``trace_id``/``span_id``, and whatever is bound with
``structlog.contextvars.bound_contextvars`` (``request_id``, ``event_id``, ``user_id``,
``org_id``). Libraries that log through ``logging`` (uvicorn, aiokafka, sqlalchemy) go through
the same renderer. A scrubber redacts secrets and personal data before anything is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, Processor, WrappedLogger

from shared.observability.tracing import current_trace_ids

__all__ = ["REDACTED", "add_trace_ids", "configure_logging", "scrub_pii"]

REDACTED = "[REDACTED]"

# Substrings of key names whose values are never logged (matched on the lowercased key, with
# "-" read as "_", so "X-Api-Key" and "refresh_token" are caught too).
_SENSITIVE_KEY_PARTS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "email",
    "phone",
    "api_key",
    "apikey",
    "credential",
    "private_key",
    "dsn",
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# The password part of a URL's userinfo: "postgresql://user:secret@host" keeps "user".
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+@")
# "password=..." inside free text, e.g. a libpq keyword DSN quoted in a driver's error message.
_INLINE_SECRET = re.compile(
    r"(?i)\b(?P<key>password|passwd|pwd|secret|token|api[_-]?key)(?P<sep>\s*[=:]\s*)"
    r"(?:\"[^\"]*\"|'[^']*'|[^\s,;&]+)"
)
_MAX_DEPTH = 8
_HANDLER_FLAG = "_ordo_json_handler"
# Libraries that install their own handlers (uvicorn) or may be configured elsewhere: their
# records must reach the root handler and nothing else, or lines come out twice or unformatted.
_ROUTED_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "aiokafka",
    "sqlalchemy",
    "faststream",
    "alembic",
)
# Libraries that log every request at INFO: one line per outbound call duplicates our own
# request logs and spans and costs the gateway a few percent of its CPU at load.
_CHATTY_LOGGERS = ("httpx", "httpcore")


def _is_sensitive_key(key: str) -> bool:
    normalized = key.lower().replace("-", "_")
    return any(part in normalized for part in _SENSITIVE_KEY_PARTS)


def _scrub_text(text: str) -> str:
    if "@" in text:
        text = _EMAIL.sub(REDACTED, text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    text = _INLINE_SECRET.sub(rf"\g<key>\g<sep>{REDACTED}", text)
    if "://" in text:
        text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)
    return text


def _scrub(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return _scrub_text(value)
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and _is_sensitive_key(k) else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, depth + 1) for item in value]
    return value


def scrub_pii(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: redact sensitive keys, and JWTs, e-mails and URL passwords in values.

    Values of keys like ``password``, ``token``, ``authorization``, ``cookie``, ``email`` or
    ``phone`` become ``[REDACTED]`` at any depth; JWTs, e-mail addresses, the password of a
    URL (``postgresql://user:...@host``) and inline ``password=...`` pairs are cut out of every
    string, the event message and rendered exceptions included.
    """
    return {
        key: REDACTED if _is_sensitive_key(key) else _scrub(value, 1)
        for key, value in event_dict.items()
    }


def add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: add the current OpenTelemetry ``trace_id`` and ``span_id``, if any."""
    trace_id, span_id = current_trace_ids()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
        event_dict.setdefault("span_id", span_id)
    return event_dict


class _ServiceName:
    """Adds ``service``; one shared instance, so the processor chains stay module constants."""

    def __init__(self) -> None:
        self.value = "ordo"

    def __call__(self, _logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", self.value)
        return event_dict


def _json_default(value: object) -> str:
    # UUIDs, datetimes, Decimals, enums: their str() is what a reader expects in a log line.
    return str(value)


_service_name = _ServiceName()
_PRE_CHAIN: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    _service_name,
    add_trace_ids,
]
_STRUCTLOG_CHAIN: list[Processor] = [
    structlog.stdlib.filter_by_level,
    *_PRE_CHAIN,
    structlog.stdlib.PositionalArgumentsFormatter(),
    structlog.processors.StackInfoRenderer(),
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]
_RENDER_CHAIN: list[Processor] = [
    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
    # Locals are off: a frame's variables are where passwords and tokens live.
    ExceptionRenderer(ExceptionDictTransformer(show_locals=False, use_rich=False)),
    structlog.processors.UnicodeDecoder(),
    scrub_pii,
    structlog.processors.JSONRenderer(serializer=json.dumps, default=_json_default),
]


def configure_logging(service: str, level: str = "INFO", *, stream: TextIO | None = None) -> None:
    """Send structlog and stdlib logging, as JSON lines, to ``stream`` (stdout by default).

    Safe to call more than once: the root handler it installed before is replaced, never
    duplicated, and every logger, even one created earlier, uses the latest settings.

    Args:
        service: the ``service`` field of every line.
        level: a stdlib level name (``"DEBUG"``, ``"INFO"``, ...), applied to the root logger.
        stream: where lines go; tests pass a ``StringIO``.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    _service_name.value = service
    structlog.configure(
        processors=_STRUCTLOG_CHAIN,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        # Caching would freeze a module-level logger used before this call on structlog's
        # default console output, and break structlog.testing.capture_logs in tests.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_PRE_CHAIN, structlog.stdlib.ExtraAdder()],
        processors=_RENDER_CHAIN,
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_FLAG, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_FLAG, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _ROUTED_LOGGERS:
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    logging.captureWarnings(True)
