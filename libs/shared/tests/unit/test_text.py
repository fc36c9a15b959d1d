"""shared.text and shared.http.text_guard: strings PostgreSQL cannot store (NUL, unpaired
surrogates) are found wherever they are in a decoded value, and every app of ``create_app``
refuses them in path, query and JSON body with a 422 problem naming each field, before its
routes (or the database) see them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from shared.errors import ValidationError
from shared.http import create_app
from shared.settings import ServiceSettings
from shared.text import (
    MAX_REPORTED,
    UNSTORABLE_TEXT_TYPE,
    UnstorableTextError,
    is_storable,
    json_may_hold_unstorable,
    printable,
    require_storable,
    unstorable_locations,
)

BAD = ["\x00", "a\x00b", "\ud800", "x\udfff", "\udbff\udc00"[0]]
GOOD = ["", "plain", "é ü 中文", "\U0001f600", "\ufffd", "\u2028", "\x01\x1f"]


@pytest.mark.parametrize("text", BAD)
def test_nul_and_unpaired_surrogates_are_unstorable(text: str) -> None:
    assert not is_storable(text)


@pytest.mark.parametrize("text", GOOD)
def test_everything_else_is_storable(text: str) -> None:
    assert is_storable(text)
    text.encode("utf-8")  # what the driver does


def test_json_escapes_and_raw_bytes_decode_to_what_is_refused() -> None:
    # Python's json accepts a lone surrogate escape, and decodes raw ED A0 80 bytes as one.
    for raw in (b'"\\u0000"', b'"\\ud800"', b'"\xed\xa0\x80"', '"\\u0000"'.encode("utf-16")):
        assert json_may_hold_unstorable(raw)
        assert not is_storable(json.loads(raw))
    paired = json.loads(b'"\\ud83d\\ude00"')
    assert paired == "\U0001f600"
    assert is_storable(paired)
    assert not json_may_hold_unstorable(
        json.dumps({"name": "Widget é"}, ensure_ascii=False).encode()
    )


def test_locations_are_found_in_document_order_keys_included() -> None:
    value = {
        "a": "ok",
        "b": ["x", "y\x00", {"c": "\ud800"}],
        "k\x00": {"not": "\x00 looked at"},
        "d": {"e": ("\x00",)},
        "n": 1,
        "none": None,
    }
    assert unstorable_locations(value, ("body",)) == [
        ("body", "b", 1),
        ("body", "b", 2, "c"),
        ("body", "k\ufffd"),
        ("body", "d", "e", 0),
    ]
    assert unstorable_locations("\x00") == [()]
    assert unstorable_locations(b"\x00") == []  # bytes are not text


def test_reports_are_bounded_and_printable() -> None:
    assert len(unstorable_locations(["\x00"] * 1000)) == MAX_REPORTED
    assert printable("a\ud800\x00b") == "a\ufffd\ufffdb"
    assert printable(3) == 3
    deep: Any = "\x00"
    for _ in range(5000):  # far deeper than recursion would allow
        deep = [deep]
    assert len(unstorable_locations(deep)[0]) == 5000


def test_require_storable_is_a_permanent_validation_error_naming_the_fields() -> None:
    require_storable({"name": "fine"}, ("payload",))
    with pytest.raises(UnstorableTextError) as caught:
        require_storable({"lines": [{"sku": "A\x00"}]}, ("payload",))
    error = caught.value
    assert isinstance(error, ValidationError)
    assert not error.transient
    assert error.code == "validation.failed"
    assert [(e.path, e.type) for e in error.errors] == [
        ("payload.lines.0.sku", UNSTORABLE_TEXT_TYPE)
    ]
    assert "payload.lines.0.sku" in error.message


# --- the HTTP guard of every create_app ---


class _Item(BaseModel):
    name: str
    tags: list[str] = []


def _app(*, text_guard: bool = True) -> tuple[FastAPI, list[Any]]:
    seen: list[Any] = []
    router = APIRouter()

    @router.post("/items/{sku}")
    async def create(sku: str, item: _Item, q: str | None = None) -> dict[str, str]:
        seen.append((sku, item, q))
        return {"ok": "yes"}

    @router.get("/items")
    async def search(q: str | None = None) -> dict[str, str]:
        seen.append(q)
        return {"ok": "yes"}

    app = create_app(
        title="t",
        version="0",
        settings=ServiceSettings(),
        readiness={},
        routers=[router],
        text_guard=text_guard,
    )
    return app, seen


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, list[Any]]]:
    app, seen = _app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        yield http, seen


def _fields(response: httpx.Response) -> set[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation.failed"
    return {(e["path"], e["type"]) for e in problem["errors"]}


async def test_a_body_string_is_refused_at_its_field(
    client: tuple[httpx.AsyncClient, list[Any]],
) -> None:
    http, seen = client
    for raw in (
        b'{"name": "a\\u0000b"}',
        b'{"name": "\\ud800"}',
        b'{"name": "a\xed\xa0\x80"}',
        json.dumps({"name": "\x00"}).encode("utf-16"),
    ):
        response = await http.post("/items/SKU", content=raw)
        assert _fields(response) == {("body.name", UNSTORABLE_TEXT_TYPE)}, raw
    response = await http.post(
        "/items/SKU",
        content=b'{"name": "ok", "tags": ["fine", "\\udfff"], "\\u0000": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert _fields(response) == {
        ("body.tags.1", UNSTORABLE_TEXT_TYPE),
        ("body.\ufffd", UNSTORABLE_TEXT_TYPE),
    }
    assert seen == []


async def test_path_and_query_are_refused_by_name(
    client: tuple[httpx.AsyncClient, list[Any]],
) -> None:
    http, seen = client
    assert _fields(await http.get("/items?q=a%00b")) == {("query.q", UNSTORABLE_TEXT_TYPE)}
    assert _fields(await http.get("/items?other=%00")) == {("query.other", UNSTORABLE_TEXT_TYPE)}
    response = await http.post("/items/A%00B?q=%00", json={"name": "ok"})
    assert _fields(response) == {
        ("path.sku", UNSTORABLE_TEXT_TYPE),
        ("query.q", UNSTORABLE_TEXT_TYPE),
    }
    assert seen == []


async def test_storable_requests_pass_untouched(
    client: tuple[httpx.AsyncClient, list[Any]],
) -> None:
    http, seen = client
    assert (await http.get("/items?q=%C3%A9%2500")).status_code == 200
    body = {"name": "Widget é \U0001f600 \\u0000 as text", "tags": ["中文"]}
    assert (await http.post("/items/SKU", json=body)).status_code == 200
    # Not JSON: FastAPI's own answer, the guard stays out of the way.
    response = await http.post("/items/SKU", content=b"\\u0000 not json")
    assert response.status_code == 422
    assert seen == ["é%00", ("SKU", _Item(**body), None)]


async def test_the_guard_can_be_turned_off_by_an_app_that_checks_everything_itself() -> None:
    app, seen = _app(text_guard=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/items?q=%00")).status_code == 200
    assert seen == ["\x00"]
