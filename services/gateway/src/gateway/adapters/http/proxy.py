"""Forwarding a validated /v1 request to its service, and relaying the answer.

Only these request headers go upstream: ``Authorization`` (the caller's token; the service
authorizes with it), ``Idempotency-Key`` (validated), ``Content-Type`` (the body is re-serialized
JSON), ``X-Request-ID`` (the gateway's id for the request, so both logs correlate) and the W3C
trace context of the gateway's client span (``traceparent``/``tracestate``/``baggage``).

Back come the status and the body, and only the response headers the contract declares for that
status (``Location`` rewritten under /v1, ``Idempotent-Replayed``, ``Retry-After``, ...), with
values of visible ASCII only; the gateway sets its own cookies, caching and rate-limit headers.
A 4xx problem is passed through with ``instance`` set to the public path; 5xx answers never
pass through (see ``gateway.adapters.upstream``): the caller gets the gateway's own problem and
the request id to quote, and the cause goes to the log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import structlog
from fastapi import APIRouter, Depends, FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.adapters.openapi import Operation, ValidRequest
from gateway.adapters.upstream import (
    IDEMPOTENT_METHODS,
    UpstreamClient,
    UpstreamFailedError,
    UpstreamOverloadedError,
    UpstreamRequest,
    UpstreamResponse,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from shared.http import PROBLEM_CONTENT_TYPE, ProblemResponse, get_request_id, problem_response
from shared.http.problems import internal_error_response

__all__ = [
    "entry_checks",
    "install_upstream_problems",
    "mount",
    "openapi_router",
    "public_location",
    "relay",
    "upstream_request",
]

log = structlog.get_logger(__name__)

PUBLIC_PREFIX = "/v1"
FORWARDED_PARAMETER_HEADERS = frozenset({"idempotency-key"})
# The gateway's own business: cookies, caching, rate limits.
GATEWAY_OWNED_HEADERS = frozenset({"set-cookie", "cache-control", "ratelimit", "ratelimit-policy"})
_SAFE_HEADER_VALUE = re.compile(r"[\x20-\x7e]{1,512}")
_WWW_AUTHENTICATE = 'Bearer realm="ordo"'


def internal_path(operation: Operation, valid: ValidRequest) -> str:
    """The service's path for ``operation``: the public path without /v1, values filled in."""
    template = operation.path.removeprefix(PUBLIC_PREFIX)
    return template.format_map({k: quote(v, safe="") for k, v in valid.path_params.items()})


def upstream_request(
    request: Request,
    operation: Operation,
    valid: ValidRequest,
    *,
    idempotent: bool | None = None,
    body: Any = ...,
    path: str | None = None,
) -> UpstreamRequest:
    """The call to the service for a validated request.

    Args:
        idempotent: whether transient failures may be retried; by default, the method decides.
        body: a JSON body replacing the validated one (identity's routes rebuild theirs).
        path: the internal path, when it is not the public one without /v1.
    """
    headers: dict[str, str] = {}
    authorization = request.headers.get("authorization")
    if authorization:
        headers["Authorization"] = authorization
    for name, value in valid.headers.items():
        if name.lower() in FORWARDED_PARAMETER_HEADERS:
            headers[name] = value
    request_id = get_request_id(request.scope)
    if request_id:
        headers["X-Request-ID"] = request_id
    if body is ...:
        content = valid.body_bytes()
    else:
        content = None if body is None else json.dumps(body, separators=(",", ":")).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    return UpstreamRequest(
        method=operation.method,
        path=path if path is not None else internal_path(operation, valid),
        query=valid.query,
        headers=headers,
        content=content,
        idempotent=operation.method in IDEMPOTENT_METHODS if idempotent is None else idempotent,
    )


def public_location(value: str) -> str | None:
    """A service's ``Location`` as the public URL path (/v1...), or None if unusable."""
    path = urlsplit(value).path
    if not path.startswith("/") or path.startswith("//"):
        return None
    return path if path.startswith(PUBLIC_PREFIX + "/") else PUBLIC_PREFIX + path


def relay(request: Request, operation: Operation, upstream: UpstreamResponse) -> Response:
    """The public answer for a service's answer below 500."""
    headers = _declared_headers(operation, upstream)
    if upstream.status >= 400:
        return _relay_problem(request, upstream, headers)
    if upstream.status in (204, 304) or not upstream.content:
        return Response(status_code=upstream.status, headers=headers)
    return Response(
        content=upstream.content,
        status_code=upstream.status,
        media_type=upstream.headers.get("content-type", "application/json"),
        headers=headers,
    )


def _declared_headers(operation: Operation, upstream: UpstreamResponse) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name in sorted(operation.response_headers(upstream.status) - GATEWAY_OWNED_HEADERS):
        value = upstream.headers.get(name)
        if value is not None and name == "location":
            value = public_location(value)
        if value is not None and _SAFE_HEADER_VALUE.fullmatch(value):
            kept[name.title()] = value
    return kept


def _relay_problem(
    request: Request, upstream: UpstreamResponse, headers: dict[str, str]
) -> Response:
    body: Any = None
    if upstream.media_type in (PROBLEM_CONTENT_TYPE, "application/json"):
        try:
            body = upstream.json()
        except ValueError:
            body = None
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        # Not one of ours: say no more than the status.
        raise StarletteHTTPException(status_code=upstream.status, headers=headers or None)
    body["instance"] = request.url.path
    if upstream.status == 401:
        headers["WWW-Authenticate"] = _WWW_AUTHENTICATE
    return ProblemResponse(body, status_code=upstream.status, headers=headers)


def mount(
    router: APIRouter,
    operation: Operation,
    endpoint: Callable[..., Any],
    *,
    dependencies: Sequence[Any] = (),
) -> None:
    """Add ``endpoint`` as ``operation``'s route (documented by its validator, not FastAPI)."""
    router.add_api_route(
        operation.path,
        endpoint,
        methods=[operation.method],
        operation_id=operation.operation_id,
        name=operation.operation_id,
        dependencies=list(dependencies),
        include_in_schema=False,
    )


def entry_checks(client: UpstreamClient, guard: Callable[[Request], Awaitable[None]]) -> Any:
    """The first dependency of a route: admission control, then the rate-limit ``guard``.

    A request its service's admission control would refuse anyway is refused (503) before the
    rate limits, the token and the contract are checked: shedding costs no Redis round trip and
    no parsing. One dependency rather than two saves a resolution by FastAPI (~5 us here).
    """
    admission = client.admission
    if admission is None:
        return Depends(guard)

    async def admit_then_limit(request: Request) -> None:
        admission.check()
        await guard(request)

    return Depends(admit_then_limit)


def openapi_router(document: Callable[[], dict[str, Any]]) -> APIRouter:
    """``GET /v1/openapi.json``: the served public document."""
    router = APIRouter()

    async def get_openapi() -> Response:
        return JSONResponse(document())

    router.add_api_route("/v1/openapi.json", get_openapi, methods=["GET"], include_in_schema=False)
    return router


async def _upstream_problem(request: Request, exc: Exception) -> Response:
    if isinstance(exc, UpstreamOverloadedError | UpstreamUnavailableError):
        # Shed requests are counted in gateway_shed_total, and a service's own refusal there:
        # a log line per refusal would cost what shedding saves.
        if isinstance(exc, UpstreamUnavailableError) and not exc.overloaded:
            log.warning(
                "upstream_unavailable",
                upstream=exc.upstream,
                circuit_open=exc.circuit_open,
                reached=exc.reached,
            )
        return problem_response(
            request,
            status=503,
            code=exc.code,
            detail=exc.message,
            headers={"Retry-After": str(exc.retry_after_s)},
        )
    if isinstance(exc, UpstreamTimeoutError):
        log.warning("upstream_timeout", upstream=exc.upstream)
        return problem_response(request, status=504, code=exc.code, detail=exc.message)
    if isinstance(exc, UpstreamFailedError):
        log.warning("upstream_failed", upstream=exc.upstream, upstream_status=exc.status)
        detail = exc.message
        request_id = get_request_id(request.scope)
        if request_id:
            detail += f" Quote request id {request_id} when reporting it."
        return problem_response(request, status=502, code=exc.code, detail=detail)
    return internal_error_response(request)  # registered for the four classes above only


def install_upstream_problems(app: FastAPI) -> None:
    """Render the upstream errors as 503 (with Retry-After), 504 and 502 problems."""
    errors = (
        UpstreamOverloadedError,
        UpstreamUnavailableError,
        UpstreamTimeoutError,
        UpstreamFailedError,
    )
    for error in errors:
        app.add_exception_handler(error, _upstream_problem)
