"""RequestValidator: raw requests become validated values the OpenAPI way, or one 422 listing
every problem; only declared parameters survive, and the body is re-serialized from what was
validated."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from gateway.adapters.openapi import Contract, RequestValidator, ValidRequest, find_contract
from shared.errors import ValidationError

KEY = {"Idempotency-Key": "key-1"}
PRODUCT = {"sku": "SKU-1", "name": "Widget", "price": {"amount_minor": 1999, "currency": "EUR"}}


@cache
def contract() -> Contract:
    return Contract.load(find_contract(Path(__file__).resolve().parent))


def request(
    path: str = "/",
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    path_params: dict[str, str] | None = None,
) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "path_params": path_params or {},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def validate(operation_id: str, **kwargs: Any) -> ValidRequest:
    return await RequestValidator(contract().operation(operation_id))(request(**kwargs))


async def problems(operation_id: str, **kwargs: Any) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        await validate(operation_id, **kwargs)
    return {(e.path, e.type) for e in caught.value.errors}


async def test_query_parameters_are_typed_defaulted_and_filtered() -> None:
    valid = await validate(
        "listOrders",
        query="status=pending&status=confirmed&cursor=abc&unknown=1&placed_after=2026-11-26T10:00:00%2B01:00",
    )
    assert valid.values == {
        "status": ["pending", "confirmed"],
        "cursor": "abc",
        "limit": 20,  # the schema's default, for the handler; not forwarded
        "placed_after": "2026-11-26T10:00:00+01:00",
    }
    assert valid.query == (
        ("cursor", "abc"),
        ("status", "pending"),
        ("status", "confirmed"),
        ("placed_after", "2026-11-26T10:00:00+01:00"),
    )
    assert not valid.has_body
    assert valid.body_bytes() is None


async def test_booleans_and_integers_are_parsed_strictly() -> None:
    valid = await validate("listWebhookEndpoints", query="enabled=false&limit=100")
    assert valid.values["enabled"] is False
    assert valid.values["limit"] == 100
    assert await problems("listWebhookEndpoints", query="enabled=yes&limit=1.0") == {
        ("query.enabled", "bool_parsing"),
        ("query.limit", "int_parsing"),
    }


async def test_every_problem_is_reported_at_once() -> None:
    found = await problems(
        "listOrders",
        query="limit=0&status=bogus&status=pending&placed_by=42&placed_before=yesterday&cursor=",
    )
    assert found == {
        ("query.limit", "greater_than_equal"),
        ("query.status.0", "enum"),
        ("query.placed_by", "uuid_format"),
        ("query.placed_before", "date_time_format"),
        ("query.cursor", "string_too_short"),
    }


async def test_a_scalar_sent_twice_is_refused_not_guessed() -> None:
    assert await problems("listProducts", query="limit=5&limit=50") == {("query.limit", "repeated")}
    assert await problems("listStockLevels", query="sku=A&sku=A&sku=-B") == {
        ("query.sku.2", "string_pattern_mismatch")
    }


async def test_path_parameters_are_validated() -> None:
    found = await problems("getProduct", path_params={"product_id": "../admin"})
    assert found == {("path.product_id", "uuid_format")}
    valid = await validate("getStockLevel", path_params={"sku": "SKU-1"})
    assert valid.path_params == {"sku": "SKU-1"}


async def test_headers_are_matched_case_insensitively_and_kept_as_sent() -> None:
    body = json.dumps(PRODUCT).encode()
    valid = await validate(
        "createProduct",
        headers={"idempotency-key": "k-1", "content-type": "application/json"},
        body=body,
    )
    assert valid.headers == {"Idempotency-Key": "k-1"}
    assert valid.body == PRODUCT


async def test_the_body_must_be_there_be_json_and_fit_the_schema() -> None:
    missing = await problems("createProduct", headers={})
    assert missing == {("header.Idempotency-Key", "missing"), ("body", "missing")}
    text = await problems("createProduct", headers={**KEY, "content-type": "text/plain"}, body=b"x")
    assert text == {("body", "content_type")}
    broken = await problems("createProduct", headers=KEY, body=b'{"sku": ')
    assert broken == {("body", "json_invalid")}
    nan = await problems(
        "adjustStock", path_params={"sku": "A"}, headers=KEY, body=b'{"delta": NaN, "reason": "r"}'
    )
    assert nan == {("body", "json_invalid")}
    deep = await problems(
        "cancelOrder", path_params={"order_id": str(_uuid())}, body=b"[" * 40 + b"]" * 40
    )
    assert deep == {("body", "depth")}
    huge = await problems(
        "cancelOrder", path_params={"order_id": str(_uuid())}, body=b"[" * 100_000
    )
    assert huge == {("body", "json_invalid")}
    wrong = await problems(
        "createProduct", headers=KEY, body=json.dumps({**PRODUCT, "price": 5}).encode()
    )
    assert wrong == {("body.price", "object_type")}


async def test_numbers_are_bounded_where_they_are_parsed() -> None:
    def product(amount: str) -> bytes:
        return (
            b'{"sku": "SKU-1", "name": "W", "price": {"currency": "EUR", "amount_minor": '
            + amount.encode()
            + b"}}"
        )

    for amount in ("9223372036854775808", "-9223372036854775809", "1" * 5000, "1e999"):
        found = await problems("createProduct", headers=KEY, body=product(amount))
        assert found == {("body", "number_range")}, amount
    valid = await validate("createProduct", headers=KEY, body=product("1999"))
    assert valid.body["price"]["amount_minor"] == 1999
    for limit in ("9223372036854775808", "1" * 5000):  # int() of 5000 digits would raise
        assert await problems("listProducts", query=f"limit={limit}") == {
            ("query.limit", "int_parsing")
        }


async def test_text_the_services_cannot_store_is_refused_at_its_field() -> None:
    order = {"order_id": str(_uuid())}
    found = await problems("cancelOrder", path_params=order, body=b'{"note": "\\ud800"}')
    assert found == {("body.note", "string_unstorable")}
    raw_surrogate = b'{"note": "a\xed\xa0\x80b"}'  # json.loads reads it as "\ud800"
    found = await problems("cancelOrder", path_params=order, body=raw_surrogate)
    assert found == {("body.note", "string_unstorable")}
    body = json.dumps({**PRODUCT, "name": "a\x00b", "description": "x\ud800"}).encode()
    found = await problems("createProduct", headers=KEY, body=body)
    assert found == {("body.name", "string_unstorable"), ("body.description", "string_unstorable")}
    # A key too, before the schema (its validator cannot read a lone surrogate in a key).
    found = await problems("cancelOrder", path_params=order, body=b'{"\\udfff": "x"}')
    assert found == {("body.\ufffd", "string_unstorable")}
    assert await problems("listProducts", query="q=a%00b") == {("query.q", "string_unstorable")}
    assert await problems("getStockLevel", path_params={"sku": "a\x00b"}) == {
        ("path.sku", "string_unstorable")
    }
    paired = await validate("cancelOrder", path_params=order, body=b'{"note": "\\ud83d\\ude00"}')
    assert paired.body_bytes() == '{"note":"\U0001f600"}'.encode()


async def test_an_untyped_body_is_read_as_json_like_fastapi_does() -> None:
    valid = await validate("createProduct", headers=KEY, body=json.dumps(PRODUCT).encode())
    assert valid.body == PRODUCT


async def test_the_forwarded_body_is_what_was_validated() -> None:
    order = {"order_id": str(_uuid())}
    valid = await validate(
        "cancelOrder",
        path_params=order,
        headers={"content-type": "application/json; charset=utf-8"},
        body='{"note": "first", "note": "wins-the-last é"}'.encode(),
    )
    assert valid.body_bytes() == '{"note":"wins-the-last é"}'.encode()
    optional = await validate("cancelOrder", path_params=order)
    assert optional.has_body is False


async def test_an_operation_without_a_body_ignores_one() -> None:
    valid = await validate("getOrder", path_params={"order_id": str(_uuid())}, body=b"junk")
    assert valid.has_body is False


async def test_identity_defaults_apply() -> None:
    valid = await validate("logIn", body=b'{"email": "a@example.com", "password": "x"}')
    assert valid.values["Auth-Mode"] == "bearer"
    assert await problems(
        "logIn", headers={"Auth-Mode": "evil"}, body=b'{"email": "a@example.com", "password": "x"}'
    ) == {("header.Auth-Mode", "enum")}


def _uuid() -> str:
    return "0190a0e4-8d5b-7c1e-9a3f-1b2c3d4e5f60"
