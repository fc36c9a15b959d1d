"""tools/docs/site: one page per error code, every topic in the catalogue, no drift."""

from __future__ import annotations

import importlib.util
import re
from functools import cache
from pathlib import Path
from types import ModuleType

import errors_catalog
import events_catalog
import httpx
import pytest
import yaml

from shared.http import create_app
from shared.http.problems import _HTTP_CODES, INTERNAL_ERROR_CODE, REQUEST_TOO_LARGE_CODE
from shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
DOCS_TOOLS = REPO / "tools" / "docs"
SITE = DOCS_TOOLS / "site"


def _builder() -> ModuleType:
    # By path: ``import site`` would be the standard library's module.
    spec = importlib.util.spec_from_file_location("ordo_docs_site", DOCS_TOOLS / "site.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def catalog() -> tuple[errors_catalog.ErrorDoc, ...]:
    return tuple(errors_catalog.catalog())


def test_every_code_in_the_sources_has_a_page() -> None:
    documented = {doc.code for doc in catalog()}
    missing = errors_catalog.codes_in_sources() - documented
    assert not missing, (
        f"error codes without a page (add a class docstring or OTHER_CODES): {missing}"
    )
    for code in documented:
        assert (SITE / "errors" / f"{code}.html").is_file(), f"run `make docs`: no page for {code}"


def test_every_error_class_explains_itself() -> None:
    # A subclass that only inherits its parent's docstring says nothing about its own code.
    silent = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in errors_catalog.error_classes()
        if not errors_catalog.own_doc(cls)
    ]
    assert not silent, f"error classes without a docstring of their own: {silent}"


def test_every_http_code_of_the_adapter_has_a_page() -> None:
    documented = {doc.code for doc in catalog()}
    assert {*_HTTP_CODES.values(), INTERNAL_ERROR_CODE, REQUEST_TOO_LARGE_CODE} <= documented


async def test_a_framework_405_names_a_documented_code() -> None:
    # Statuses without a code of the tree get ``http.<phrase>`` from the HTTP adapter.
    app = create_app(title="t", version="0", settings=ServiceSettings(), readiness={})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        problem = (await client.delete("/health/live")).json()

    assert problem["status"] == 405
    assert problem["code"] in {doc.code for doc in catalog()}


def test_every_page_says_what_to_do() -> None:
    for doc in catalog():
        page = (SITE / "errors" / f"{doc.code}.html").read_text(encoding="utf-8")
        assert f"<code>{doc.code}</code>" in page
        assert "What it means and when it happens" in page
        assert "What to do" in page
        assert errors_catalog.advice(doc).strip()
        assert all(raiser.doc for raiser in doc.raisers), doc.code


def test_the_catalogue_lists_every_topic_and_message() -> None:
    page = (SITE / "events.html").read_text(encoding="utf-8")
    addresses: set[str] = set()
    names: set[str] = set()
    for path in sorted((REPO / "contracts" / "asyncapi").glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for channel in (document.get("channels") or {}).values():
            if "address" in channel:
                addresses.add(channel["address"])
        for message in ((document.get("components") or {}).get("messages") or {}).values():
            names.add(message["name"])
    assert addresses
    assert names
    for address in addresses:
        assert f'id="{address}"' in page, address
    for name in names:
        assert f"<code>{name}</code>" in page, name
    assert {t.address for t in events_catalog.topics()} == addresses


def test_the_committed_site_is_what_the_sources_give() -> None:
    builder = _builder()
    drift = builder.differences(builder.render())
    assert not drift, f"tools/docs/site is out of date, run `make docs`: {drift}"


@pytest.mark.parametrize("page", ["index.html", "api.html", "events.html", "errors/index.html"])
def test_pages_load_nothing_from_elsewhere(page: str) -> None:
    text = (SITE / page).read_text(encoding="utf-8")
    loaded = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', text)
    assert loaded
    assert all(s.startswith("/docs/") for s in loaded), loaded
    assert "<style" not in text
    assert "style=" not in text
    assert "<script>" not in text
