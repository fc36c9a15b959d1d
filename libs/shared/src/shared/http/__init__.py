"""The FastAPI adapter of the chassis: app factory, problem+json errors, middlewares, health.

HTTP status codes live here and nowhere else; ``shared.errors`` stays transport-free.
"""

from shared.http.app import Closer, Lifespan, closing_lifespan, create_app
from shared.http.health import CheckResult, ReadinessCheck, health_router, run_checks
from shared.http.middleware import (
    REQUEST_ID_HEADER,
    SECURITY_HEADERS,
    RequestIdMiddleware,
    SecurityHeadersMiddleware,
    get_request_id,
)
from shared.http.problems import (
    PROBLEM_CONTENT_TYPE,
    ProblemDetails,
    ProblemResponse,
    UnhandledErrorMiddleware,
    install_problem_handlers,
    problem_response,
    status_for,
)
from shared.http.server import GracefulServer, serve_http, serve_with_worker

__all__ = [
    "PROBLEM_CONTENT_TYPE",
    "REQUEST_ID_HEADER",
    "SECURITY_HEADERS",
    "CheckResult",
    "Closer",
    "GracefulServer",
    "Lifespan",
    "ProblemDetails",
    "ProblemResponse",
    "ReadinessCheck",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "UnhandledErrorMiddleware",
    "closing_lifespan",
    "create_app",
    "get_request_id",
    "health_router",
    "install_problem_handlers",
    "problem_response",
    "run_checks",
    "serve_http",
    "serve_with_worker",
    "status_for",
]
