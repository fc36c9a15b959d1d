"""Errors as RFC 9457 problem details (``application/problem+json``): the only error shape."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://payment-provider.fake/problems/"


class ProviderProblem(Exception):
    """An error answered as problem+json; ``slug`` names its ``type``."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response with the four standard members plus ``extra`` ones."""
    body = {
        "type": PROBLEM_TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


async def _on_provider_problem(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ProviderProblem):  # pragma: no cover - registered for this type only
        raise exc
    return problem_response(exc.status, exc.slug, exc.title, exc.detail, exc.headers)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # pragma: no cover
        raise exc
    # Only JSON-safe parts: pydantic's ``ctx`` may hold exception objects.
    errors = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type")}
        for error in exc.errors()
    ]
    return problem_response(
        422, "validation", "Invalid request", "The request failed validation.", errors=errors
    )


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover
        raise exc
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    return problem_response(
        exc.status_code, slug, str(exc.detail), str(exc.detail), dict(exc.headers or {})
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error the app answers, including framework ones, problem+json."""
    app.add_exception_handler(ProviderProblem, _on_provider_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
