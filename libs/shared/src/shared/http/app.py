"""The FastAPI app factory every Ordo HTTP process uses: the golden path in one call.

``create_app`` returns an app that already has problem+json errors, request ids, security
headers, Prometheus metrics at ``/metrics``, liveness/readiness at ``/health/*``, OpenTelemetry
server spans and an OpenAPI document whose error responses say what is really returned.
Process-wide setup (``configure_logging``, ``configure_tracing``) stays in the service's
entrypoint: an app factory is called by tests many times per process.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from shared.http.health import DEFAULT_CHECK_TIMEOUT_S, ReadinessCheck, health_router
from shared.http.middleware import (
    BodyLimitMiddleware,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
)
from shared.http.problems import (
    PROBLEM_CONTENT_TYPE,
    ProblemDetails,
    UnhandledErrorMiddleware,
    install_problem_handlers,
)
from shared.http.text_guard import refuse_unstorable_text
from shared.observability.metrics import (
    DEFAULT_EXCLUDED_PATHS,
    HttpMetricsMiddleware,
    Metrics,
    default_metrics,
    metrics_endpoint,
)
from shared.settings import ServiceSettings

__all__ = ["DEFAULT_MAX_BODY_BYTES", "Closer", "Lifespan", "closing_lifespan", "create_app"]

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]
Closer = Callable[[], Awaitable[object]]
"""Releases something a process opened (``engine.dispose``, ``client.aclose``, ...)."""
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# OpenTelemetry's excluded_urls are regexes searched in the full URL.
_UNTRACED_URLS = ",".join(f"{path}$" for path in sorted(DEFAULT_EXCLUDED_PATHS))
_SCHEMA_REF = "#/components/schemas/{model}"


def create_app(
    *,
    title: str,
    version: str,
    settings: ServiceSettings,
    readiness: Mapping[str, ReadinessCheck],
    lifespan: Lifespan | None = None,
    routers: Iterable[APIRouter] = (),
    metrics: Metrics | None = None,
    readiness_timeout_s: float = DEFAULT_CHECK_TIMEOUT_S,
    max_body_size: int | None = DEFAULT_MAX_BODY_BYTES,
    text_guard: bool = True,
) -> FastAPI:
    """Build a FastAPI app wired with the chassis' HTTP conventions.

    Args:
        title: the OpenAPI title.
        version: the service version (OpenAPI ``info.version``).
        settings: the service's settings; kept as ``app.state.settings`` for handlers.
        readiness: named readiness checks served by ``/health/ready`` (kept, as a dict that
            may still change, in ``app.state.readiness``).
        lifespan: the service's startup/shutdown context (open pools, start consumers).
        routers: the service's API routers.
        metrics: where HTTP metrics go and what ``/metrics`` serves; the process default if None.
        readiness_timeout_s: the budget of each readiness check.
        max_body_size: the largest accepted request body in bytes (413 beyond); None: no limit.
        text_guard: refuse, on every route, strings the database cannot store (NUL, unpaired
            surrogates) in path, query and JSON body with a 422 naming each field
            (:mod:`shared.http.text_guard`). Only an app that checks every request itself
            against its contract, and forwards nothing else, turns it off (the gateway).

    Middlewares, outermost first: request id, security headers, HTTP metrics, the catch-all
    that turns unexpected exceptions into an opaque 500 problem, then the body limit; so the
    request id, the headers and the metrics are on every response, errors included.
    """
    registry = metrics if metrics is not None else default_metrics()
    app = FastAPI(
        title=title,
        version=version,
        lifespan=lifespan,
        # The CSP for a JSON API forbids the Swagger/ReDoc pages; /openapi.json stays served.
        docs_url=None,
        redoc_url=None,
        # FastAPI's native telemetry would duplicate the instrumentor's spans, and its log
        # records carry exception messages; the chassis logs errors itself.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Runs before each route's own dependencies and parameter validation.
        dependencies=[Depends(refuse_unstorable_text)] if text_guard else None,
    )
    app.state.settings = settings
    # The live checks of /health/ready: a process that hosts several roles adds theirs here.
    app.state.readiness = checks = dict(readiness)
    install_problem_handlers(app)
    app.include_router(health_router(checks, timeout_s=readiness_timeout_s))
    app.add_route("/metrics", metrics_endpoint(registry), methods=["GET"], include_in_schema=False)
    for router in routers:
        app.include_router(router)

    # add_middleware wraps what was added before, so this list reads innermost first.
    if max_body_size is not None:
        app.add_middleware(BodyLimitMiddleware, max_body_size=max_body_size)
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(HttpMetricsMiddleware, metrics=registry)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=_UNTRACED_URLS, exclude_spans=["receive", "send"]
    )
    _document_problems(app)
    return app


def closing_lifespan(*closers: Closer) -> Lifespan:
    """A lifespan that opens nothing and, at shutdown, awaits ``closers`` one after the other.

    For apps whose resources are built with the app (pools, clients, doorbells) and must be
    released when it stops, in the order given.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for close in closers:
                await close()

    return lifespan


def _document_problems(app: FastAPI) -> None:
    """Make the served OpenAPI describe 422s (and any error) as problem+json, as served."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        _use_problem_details(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _use_problem_details(schema: dict[str, Any]) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template=_SCHEMA_REF)
    components.update(problem.pop("$defs", {}))
    components["ProblemDetails"] = problem
    problem_content = {
        PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _SCHEMA_REF.format(model="ProblemDetails")}}
    }
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            responses = operation.get("responses", {})
            invalid = responses.get("422")
            if invalid is not None and "HTTPValidationError" in json.dumps(invalid):
                responses["422"] = {"description": "Validation Error", "content": problem_content}
            responses.setdefault("default", {"description": "Problem", "content": problem_content})
    text = json.dumps({k: v for k, v in schema.items() if k != "components"})
    for name in ("HTTPValidationError", "ValidationError"):
        if _SCHEMA_REF.format(model=name) not in text + json.dumps(_others(components, name)):
            components.pop(name, None)


def _others(components: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in components.items() if key != name}
