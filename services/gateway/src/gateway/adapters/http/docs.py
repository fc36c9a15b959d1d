"""The docs people read, served by the gateway under /docs from files built at build time.

- ``/docs``: the API reference (Swagger UI over ``/v1/openapi.json``);
- ``/docs/``: the start page; ``/docs/events``: the event catalogue;
- ``/docs/errors/`` and ``/docs/errors/<code>``: the page each problem's ``type`` points at.

Pages come from ``tools/docs/site`` (generated from the error tree and the contracts, committed);
Swagger UI's two files come from ``tools/docs/node_modules/swagger-ui-dist`` (``npm ci`` in
``make bootstrap``). Nothing is fetched from another host. Every file is read (and gzipped) once,
when the router is built, so a request never touches the filesystem and no path reaches it.

These routes carry their own Content-Security-Policy (:data:`DOCS_CSP`: scripts, styles and
calls to this origin only); the security headers middleware keeps the strict API policy for
every other route, since it only fills headers a response has not set.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shared.errors import NotFoundError

__all__ = ["DOCS_CSP", "DOCS_FOLDER", "DocsFile", "build_docs_router", "find_docs", "load_docs"]

log = structlog.get_logger(__name__)

DOCS_FOLDER = Path("tools") / "docs"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Swagger UI's files the API reference loads (the rest of the package is not served).
SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
_MEDIA_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
_CODE = re.compile(r"[a-z0-9_]+(?:\.[a-z0-9_]+)+")
_GZIP_FROM_BYTES = 1024
_PAGES = {"/docs": "api.html", "/docs/": "index.html", "/docs/events": "events.html"}


@dataclass(frozen=True, slots=True)
class DocsFile:
    """One served file: its bytes, media type and gzipped bytes (None when not worth it)."""

    body: bytes
    media_type: str
    gzipped: bytes | None = None


def find_docs(start: Path) -> Path:
    """Find ``tools/docs`` in ``start`` or one of its parents (else ``start/tools/docs``)."""
    for folder in (start, *start.parents):
        candidate = folder / DOCS_FOLDER
        if (candidate / "site").is_dir():
            return candidate
    return start / DOCS_FOLDER


def _read(path: Path) -> DocsFile:
    body = path.read_bytes()
    # Swagger UI's bundle is 1.8 MB, 0.5 MB gzipped: compressed once here, not per request.
    packed = gzip.compress(body, mtime=0) if len(body) >= _GZIP_FROM_BYTES else None
    return DocsFile(body, _MEDIA_TYPES.get(path.suffix, "application/octet-stream"), packed)


def load_docs(folder: Path) -> dict[str, DocsFile]:
    """Every file the docs serve, by URL path; Swagger UI's only if ``npm ci`` installed it.

    Without a built site (an image that does not ship it) the gateway serves no docs: /docs
    answers 404 and a warning says where it looked. The API does not depend on its docs.
    """
    site = folder / "site"
    if not (site / "index.html").is_file():
        log.warning("docs_not_found", folder=str(folder), hint="set ORDO_DOCS_PATH")
        return {}
    files = {url: _read(site / name) for url, name in _PAGES.items()}
    files["/docs/errors/"] = _read(site / "errors" / "index.html")
    for page in sorted((site / "errors").glob("*.html")):
        if page.name != "index.html":
            files[f"/docs/errors/{page.stem}"] = _read(page)
    for asset in sorted((site / "static").iterdir()):
        if asset.suffix in _MEDIA_TYPES:
            files[f"/docs/static/{asset.name}"] = _read(asset)
    swagger = folder / "node_modules" / "swagger-ui-dist"
    for name in SWAGGER_UI_FILES:
        if (swagger / name).is_file():
            files[f"/docs/assets/swagger-ui/{name}"] = _read(swagger / name)
    return files


def _response(found: DocsFile, request: Request) -> Response:
    page = found.media_type.startswith("text/html")
    headers = {
        "Content-Security-Policy": DOCS_CSP,
        # Pages change with each deploy; assets are versioned by the lock file.
        "Cache-Control": "no-cache" if page else "public, max-age=3600",
        "Vary": "Accept-Encoding",
    }
    body = found.body
    if found.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = found.gzipped, "gzip"
    return Response(body, media_type=found.media_type, headers=headers)


def build_docs_router(files: Mapping[str, DocsFile]) -> APIRouter:
    """The /docs routes over ``files`` (from :func:`load_docs`)."""
    router = APIRouter(include_in_schema=False)

    def serve(path: str, request: Request) -> Response:
        found = files.get(path)
        if found is None:
            raise NotFoundError("There is no such page in the docs.")
        return _response(found, request)

    def page_at(path: str) -> Callable[[Request], Awaitable[Response]]:
        async def page(request: Request) -> Response:
            return serve(path, request)

        return page

    for path in (*_PAGES, "/docs/errors/"):
        router.add_api_route(path, page_at(path), methods=["GET", "HEAD"])

    async def error_page(code: str, request: Request) -> Response:
        return serve(f"/docs/errors/{code}" if _CODE.fullmatch(code) else "", request)

    async def static(name: str, request: Request) -> Response:
        return serve(f"/docs/static/{name}", request)

    async def swagger_ui(name: str, request: Request) -> Response:
        return serve(f"/docs/assets/swagger-ui/{name}", request)

    router.add_api_route("/docs/errors/{code}", error_page, methods=["GET", "HEAD"])
    router.add_api_route("/docs/static/{name}", static, methods=["GET", "HEAD"])
    router.add_api_route("/docs/assets/swagger-ui/{name}", swagger_ui, methods=["GET", "HEAD"])
    return router
