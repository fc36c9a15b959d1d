"""Every error code Ordo can answer with, read from the error tree itself.

The codes come from two places, and both are checked:

1. every subclass of ``shared.errors.AppError`` in the chassis and in every service (each
   package is imported module by module, entrypoints aside, so a new error class anywhere is
   found without a list to update): its ``code``, its docstring (what it means and when it
   happens), its ``default_message`` and its HTTP status (``shared.http.status_for``);
2. codes that have no class of their own (the HTTP adapter's codes for framework errors, a code
   passed as ``code="..."``): described in :data:`OTHER_CODES`.

A code found in the sources (``code = "a.b"`` or ``code="a.b"``) that neither explains fails
``tests/docs``, so a new code cannot ship without its page.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from shared.errors import AppError
from shared.http.problems import INTERNAL_ERROR_CODE, status_for

REPO = Path(__file__).resolve().parents[2]
# The chassis first, then each service; their packages are imported to find the error classes.
PACKAGES = ("shared", "gateway", "identity", "catalog", "orders", "payments", "notifications")
SOURCE_ROOTS = ("libs/shared/src", "services/*/src")
_SKIPPED_PARTS = frozenset({"entrypoints", "__main__", "testing"})
_CODE_IN_SOURCE = re.compile(
    r"""\bcode\s*(?::\s*str\s*)?=\s*["']([a-z0-9_]+(?:\.[a-z0-9_]+)+)["']"""
)


@dataclass(frozen=True)
class Raiser:
    """One error class (or adapter) that answers with a code."""

    name: str
    module: str
    doc: str
    message: str


@dataclass
class ErrorDoc:
    """Everything the page of one code says."""

    code: str
    status: int
    raisers: list[Raiser] = field(default_factory=list)

    @property
    def title(self) -> str:
        """The status phrase, as in the problem's ``title``."""
        return HTTPStatus(self.status).phrase

    @property
    def service(self) -> str:
        """Where the code comes from: the chassis or the services that raise it."""
        owners = sorted({r.module.split(".")[0] for r in self.raisers})
        return ", ".join("chassis" if owner == "shared" else owner for owner in owners)

    @property
    def messaging_only(self) -> bool:
        """True for codes of the consumers (dead-letter headers), never an HTTP answer."""
        return all(r.module.startswith(("shared.inbox", "shared.messaging")) for r in self.raisers)


# Codes with no AppError class: (status, raised by, what it means and when it happens).
OTHER_CODES: dict[str, tuple[int, str, str]] = {
    "request.malformed": (
        400,
        "shared.http.problems",
        "The request could not be parsed at all: its body is not valid JSON, or a header or "
        "the URL is malformed. Nothing was done.",
    ),
    "request.too_large": (
        413,
        "shared.http.middleware",
        "The request body is larger than the service accepts (1 MiB by default). It is refused "
        "before it is read; nothing was done.",
    ),
    "http.method_not_allowed": (
        405,
        "shared.http.problems",
        "The path exists but does not take this HTTP method (the `Allow` header lists those it "
        "takes). Nothing was done.",
    ),
    "message.unroutable": (
        500,
        "shared.inbox",
        "A Kafka record could not be routed to a handler: it has no event type header, or its "
        "key is missing. The consumer dead-letters it (the code is in the `ordo-dlq-*` "
        "headers); it is never an HTTP answer.",
    ),
}

# What the client should do, by HTTP status; a code may say more in ADVICE_BY_CODE.
ADVICE_BY_STATUS: dict[int, str] = {
    400: "Fix the request (valid JSON, well-formed headers and URL) and send it again.",
    401: "Get a new access token (POST /v1/auth/refresh, or log in again) and send the request "
    "again with `Authorization: Bearer <token>`.",
    403: "Do not retry: the caller's role does not allow this. Ask an owner or admin of the org "
    "for the role (roles are listed in docs/security.md), or switch org.",
    404: "Check the id and the org your token is for (a resource of another org is not found, "
    "by design). Retrying the same request gives the same answer.",
    405: "Use one of the methods in the `Allow` header; the API reference lists each path's.",
    409: "Read the resource again, decide with its current state, then send a new request.",
    413: "Send a smaller body (split a large batch into several requests).",
    422: "Fix the input: `errors` lists each offending field as `path`, `message` and `type`. "
    "Retrying the same request gives the same answer.",
    429: "Wait the number of seconds in `Retry-After` before sending again; the `RateLimit` "
    "headers say how much of the budget is left.",
    500: "Report it with the problem's `requestId` (or `traceId`); the request may be retried "
    "with the same Idempotency-Key.",
    503: "Retry after the `Retry-After` delay, with the same Idempotency-Key for a creating "
    "POST: the outcome may be unknown, and the key makes the retry safe.",
}

ADVICE_BY_CODE: dict[str, str] = {
    "idempotency.key_reused": "Use a new Idempotency-Key for a new request; reuse a key only to "
    "retry the very same request (same method, path and body).",
    "idempotency.in_progress": "The first request with this key is still running: wait a moment "
    "and retry with the same key and body; you will get its response.",
    "auth.token_expired": "Refresh the access token (POST /v1/auth/refresh with the refresh "
    "token) and send the request again.",
    "auth.refresh_token_reused": "The whole token family was revoked because an old refresh "  # nosec B105
    "token was used again: log in again, and check where the old token leaked.",
    "csrf.rejected": "In cookie mode, send the value of the `ordo_csrf` cookie in the "
    "`X-CSRF-Token` header, from an allowed Origin; or use bearer mode.",
    "gateway.overloaded": "Nothing was done: retry after `Retry-After`, with the same "
    "Idempotency-Key.",
    "orders.overloaded": "Nothing was done: retry after `Retry-After`, with the same "
    "Idempotency-Key.",
    "message.unroutable": "Nothing for an API client. Operators: inspect the record in the "
    "topic's `.dlq` twin and fix the producer.",
}


def advice(doc: ErrorDoc) -> str:
    """What the client should do when it gets ``doc``'s code."""
    if doc.code in ADVICE_BY_CODE:
        return ADVICE_BY_CODE[doc.code]
    if doc.messaging_only:
        return (
            "Nothing for an API client: this code is written by a consumer into the "
            "`ordo-dlq-*` headers of a dead-lettered record. Operators: inspect and redrive it."
        )
    return ADVICE_BY_STATUS.get(doc.status, ADVICE_BY_STATUS[500])


def _modules(package: str) -> Iterator[str]:
    root = importlib.import_module(package)
    yield package
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if not _SKIPPED_PARTS.intersection(info.name.split(".")):
            yield info.name


def error_classes() -> list[type]:
    """Every AppError subclass defined in the chassis and the services, AppError included."""
    for package in PACKAGES:
        for name in _modules(package):
            importlib.import_module(name)
    found: list[type] = []
    pending: list[type] = [AppError]
    while pending:
        cls = pending.pop()
        if cls.__module__.split(".")[0] in PACKAGES and cls not in found:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def own_doc(cls: type) -> str:
    """The class's own docstring, cleaned; '' when it only inherits one."""
    raw = cls.__dict__.get("__doc__")
    return inspect.cleandoc(raw) if isinstance(raw, str) else ""


def catalog() -> list[ErrorDoc]:
    """One :class:`ErrorDoc` per code, sorted by code."""
    docs: dict[str, ErrorDoc] = {}
    for cls in error_classes():
        code = cls.__dict__.get("code", cls.code) if hasattr(cls, "code") else INTERNAL_ERROR_CODE
        status = status_for(cls.__new__(cls))
        doc = docs.setdefault(code, ErrorDoc(code, status))
        message = str(getattr(cls, "default_message", ""))
        doc.raisers.append(Raiser(cls.__qualname__, cls.__module__, own_doc(cls), message))
    for code, (status, module, text) in OTHER_CODES.items():
        doc = docs.setdefault(code, ErrorDoc(code, status))
        doc.raisers.append(Raiser(code, module, text, ""))
    return [docs[code] for code in sorted(docs)]


def codes_in_sources() -> set[str]:
    """Every dotted code written as ``code = "..."`` or ``code="..."`` in the Python sources."""
    codes: set[str] = set()
    for pattern in SOURCE_ROOTS:
        for root in REPO.glob(pattern):
            for path in root.rglob("*.py"):
                codes.update(_CODE_IN_SOURCE.findall(path.read_text(encoding="utf-8")))
    return codes
