"""Errors as RFC 9457 problem details (``application/problem+json``): the only place that knows
HTTP status codes for the ``shared.errors`` tree.

A problem carries ``type`` (the settings' ``errors_base_url`` + ``<code>``, a page explaining the
code; ``https://errors.ordo.dev/<code>`` outside an app built by ``create_app``), ``title``,
``status``, ``code``, ``detail``, ``instance`` (the request path), ``traceId`` (the
OpenTelemetry trace, else the request id), ``requestId`` and, for invalid input, ``errors``:
``[{path, message, type}]`` with paths like ``body.items.0.quantity``. A 5xx never says what
went wrong inside: the full error is logged, and the caller gets the request id to quote.

An unavailable dependency is a 503 with ``Retry-After``, never a 500: an ``InfrastructureError``
of the tree, and equally what a driver raises when the database or a broker cannot be reached
(``ConnectionRefusedError``, a dead pooled connection, a pool that timed out), which
:func:`shared.errors.infrastructure_error_for` names in the tree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import (
    AppError,
    ConflictError,
    FieldError,
    InfrastructureError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnauthenticatedError,
    ValidationError,
    infrastructure_error_for,
)
from shared.http._context import get_request_id
from shared.observability.tracing import current_trace_ids

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "ERROR_TYPE_BASE",
    "INTERNAL_ERROR_CODE",
    "PROBLEM_CONTENT_TYPE",
    "REQUEST_TOO_LARGE_CODE",
    "FieldErrorModel",
    "ProblemDetails",
    "ProblemResponse",
    "UnhandledErrorMiddleware",
    "install_problem_handlers",
    "internal_error_response",
    "problem_response",
    "status_for",
]

PROBLEM_CONTENT_TYPE = "application/problem+json"
ERROR_TYPE_BASE = "https://errors.ordo.dev/"
INTERNAL_ERROR_CODE = "internal.error"
REQUEST_TOO_LARGE_CODE = "request.too_large"
DEFAULT_RETRY_AFTER_S = 1
"""``Retry-After`` of a 503 whose error does not know when the dependency will be back."""

# First match along the exception's MRO wins, so subclasses inherit their family's status.
_STATUS_BY_FAMILY: Mapping[type, int] = {
    ValidationError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    PermissionDeniedError: 403,
    UnauthenticatedError: 401,
    RateLimitedError: 429,
    InfrastructureError: 503,
}
# Framework-raised HTTP errors reuse the tree's codes where one fits, so clients see one code
# for "not found" whether the route or the resource is missing.
_HTTP_CODES: Mapping[int, str] = {
    400: "request.malformed",
    401: UnauthenticatedError.code,
    403: PermissionDeniedError.code,
    404: NotFoundError.code,
    409: ConflictError.code,
    413: REQUEST_TOO_LARGE_CODE,
    422: ValidationError.code,
    429: RateLimitedError.code,
}

_NOT_A_CODE_CHAR = re.compile(r"[^a-z0-9]+")

log = structlog.get_logger(__name__)


class FieldErrorModel(BaseModel):
    """One invalid input field in a problem's ``errors`` list."""

    path: str = Field(examples=["body.items.0.quantity"])
    message: str
    type: str = Field(examples=["greater_than"])


class ProblemDetails(BaseModel):
    """The problem+json body, for OpenAPI documents; responses are built as plain dicts."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://errors.ordo.dev/resource.not_found"])
    title: str
    status: int
    code: str = Field(examples=["resource.not_found"])
    detail: str | None = None
    instance: str | None = None
    traceId: str | None = None  # camelCase: the wire names our API guidelines fix
    requestId: str | None = None
    errors: list[FieldErrorModel] | None = None


class ProblemResponse(JSONResponse):
    """A JSON response served as ``application/problem+json``."""

    media_type = PROBLEM_CONTENT_TYPE


def status_for(exc: BaseException) -> int:
    """Return the HTTP status for an error of the ``shared.errors`` tree; anything else is 500."""
    for cls in type(exc).__mro__:
        status = _STATUS_BY_FAMILY.get(cls)
        if status is not None:
            return status
    return 500


def problem_response(
    request: Request,
    *,
    status: int,
    code: str,
    detail: str | None = None,
    errors: Iterable[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> ProblemResponse:
    """Build a problem+json response for ``request``, filling the correlation fields."""
    request_id = get_request_id(request.scope)
    trace_id, _ = current_trace_ids()
    body: dict[str, Any] = {
        "type": f"{_errors_base(request)}{code}",
        "title": _title(status),
        "status": status,
        "code": code,
        "detail": detail,
        "instance": request.url.path,
        "traceId": trace_id or request_id,
        "requestId": request_id,
    }
    field_errors = [{"path": e.path, "message": e.message, "type": e.type} for e in errors]
    if field_errors:
        body["errors"] = field_errors
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)  # extensions never overwrite the standard members
    body = {key: value for key, value in body.items() if value is not None}
    return ProblemResponse(body, status_code=status, headers=dict(headers or {}))


def _errors_base(request: Request) -> str:
    """The settings' error pages (``ServiceSettings.errors_base``), else :data:`ERROR_TYPE_BASE`."""
    app = request.scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    errors_base = getattr(settings, "errors_base", None)
    base = errors_base() if callable(errors_base) else None
    return base if isinstance(base, str) and base else ERROR_TYPE_BASE


def internal_error_response(request: Request) -> ProblemResponse:
    """Return the opaque 500 problem: a correlation id and nothing about the cause."""
    request_id = get_request_id(request.scope)
    detail = "An unexpected error occurred."
    if request_id:
        detail += f" Quote request id {request_id} when reporting it."
    return problem_response(request, status=500, code=INTERNAL_ERROR_CODE, detail=detail)


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _app_error_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, AppError):
        return await _unhandled_exception_handler(request, exc)
    status = status_for(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        headers["Retry-After"] = _seconds(exc.retry_after)
    if isinstance(exc, InfrastructureError):
        headers["Retry-After"] = _seconds(_retry_after(exc))
    if status == 401:
        # RFC 6750: a 401 names the scheme the client must use; no error detail is echoed.
        headers["WWW-Authenticate"] = 'Bearer realm="ordo"'
    if status >= 500:
        # Infrastructure details (hosts, statements) stay in the log. A dependency that is down
        # is news, not a bug: one line naming the root cause, no traceback (an outage would
        # render one per request).
        failure: dict[str, Any] = (
            {"cause": _root_cause(exc)}
            if isinstance(exc, InfrastructureError)
            else {"exc_info": exc}
        )
        log.warning(
            "request_failed", code=exc.code, status=status, details=dict(exc.details), **failure
        )
        extensions: Mapping[str, Any] = {}
    else:
        # Per request, and the caller's doing: debug (the metrics count them by status).
        log.debug("request_rejected", code=exc.code, status=status)
        extensions = {"details": dict(exc.details)} if exc.details else {}
    errors = exc.errors if isinstance(exc, ValidationError) else ()
    return problem_response(
        request,
        status=status,
        code=exc.code,
        detail=exc.message,
        errors=errors,
        headers=headers,
        extensions=extensions,
    )


def _root_cause(exc: BaseException) -> str | None:
    root, seen = exc, 0
    while root.__cause__ is not None and seen < 8:
        root, seen = root.__cause__, seen + 1
    return None if root is exc else f"{type(root).__name__}: {root}"[:500]


def _retry_after(exc: InfrastructureError) -> float:
    if exc.retry_after is not None:
        return exc.retry_after
    hint = exc.details.get("retry_after_s")  # an open circuit says when it lets a trial through
    return float(hint) if isinstance(hint, int | float) else DEFAULT_RETRY_AFTER_S


def _seconds(delay: float) -> str:
    return str(max(1, math.ceil(delay)))


async def _request_validation_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):
        return await _unhandled_exception_handler(request, exc)
    # Only location, message and type: pydantic's "input" may echo a password back.
    errors = [
        FieldError.from_loc(e.get("loc", ()), str(e.get("msg", "")), str(e.get("type", "")))
        for e in exc.errors()
    ]
    log.debug("request_rejected", code=ValidationError.code, status=422, error_count=len(errors))
    return problem_response(
        request,
        status=422,
        code=ValidationError.code,
        detail=ValidationError.default_message,
        errors=errors,
    )


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, StarletteHTTPException):
        return await _unhandled_exception_handler(request, exc)
    status = exc.status_code
    code = _HTTP_CODES.get(status) or "http." + _NOT_A_CODE_CHAR.sub("_", _title(status).lower())
    safe_detail = isinstance(exc.detail, str) and exc.detail and status < 500
    detail = exc.detail if safe_detail else _title(status)
    if status >= 500:
        log.warning("request_failed", code=code, status=status)
    headers = exc.headers
    allow = _allowed_methods(request) if status == 405 else ""
    if allow:
        headers = {**(headers or {}), "Allow": allow}
    return problem_response(request, status=status, code=code, detail=detail, headers=headers)


def _allowed_methods(request: Request) -> str:
    # Starlette's 405 names only the methods of the first route whose path matched; an app
    # with one route per operation (the gateway) has several on one path: name them all.
    return ", ".join(sorted(_methods_matching(request.app.router.routes, request.scope)))


def _methods_matching(routes: Iterable[Any], scope: Scope) -> set[str]:
    methods: set[str] = set()
    for route in routes:
        # FastAPI wraps an included router's routes; look inside, below the include prefix.
        inner = getattr(route, "original_router", None)
        if inner is not None:
            prefix = getattr(getattr(route, "include_context", None), "prefix", "") or ""
            path = scope.get("path", "")
            if path.startswith(prefix):
                methods |= _methods_matching(inner.routes, {**scope, "path": path[len(prefix) :]})
        elif route.matches(scope)[0] is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return methods


async def _unhandled_exception_handler(request: Request, exc: Exception) -> Response:
    # Reached only for errors raised outside UnhandledErrorMiddleware (e.g. in a middleware).
    failure = infrastructure_error_for(exc)
    if failure is not None:
        return await _app_error_handler(request, failure)
    log.error("unhandled_exception", path=request.url.path, exc_info=exc)
    return internal_error_response(request)


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error ``app`` returns a problem+json: AppError, validation, HTTP and the rest."""
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(Exception, _unhandled_exception_handler)


class UnhandledErrorMiddleware:
    """Pure ASGI middleware turning an unexpected exception into the opaque 500 problem.

    Starlette hands such exceptions to its outermost middleware, past every other middleware:
    catching them here, innermost, keeps request ids, security headers and metrics on the 500.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; on an exception before the response started, send a 500 problem."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            _record_on_span(exc)
            failure = infrastructure_error_for(exc)
            if failure is None:
                log.error(
                    "unhandled_exception",
                    method=scope.get("method"),
                    path=scope.get("path"),
                    exc_info=exc,
                )
            if started:
                raise  # headers are out: only the server can end this response
            request = Request(scope)
            if failure is not None:  # a dependency is down: 503 + Retry-After, logged there
                response = await _app_error_handler(request, failure)
            else:
                response = internal_error_response(request)
            await response(scope, receive, send)


def _record_on_span(exc: Exception) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
