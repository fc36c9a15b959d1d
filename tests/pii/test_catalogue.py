"""Every column, table and contract field is classified; docs/pii.md is what the marks give."""

from __future__ import annotations

from pathlib import Path

import pii_catalogue
import pii_marks
import pytest
from sqlalchemy import Column, Integer, MetaData, Table

from shared import pii


def test_every_column_and_table_of_every_service_is_classified() -> None:
    assert pii_marks.table_problems() == []
    services = {entry.service for entry in pii_marks.columns()}
    assert {"identity", "catalog", "orders", "payments", "notifications", "chassis"} <= services


def test_every_field_of_every_contract_is_classified() -> None:
    assert pii_marks.field_problems() == []
    contracts = {entry.contract for entry in pii_marks.fields()}
    assert len(contracts) == len(pii_marks.contract_files()) >= 12


def test_docs_pii_md_is_generated_from_the_marks() -> None:
    assert pii_catalogue.OUTPUT.read_text() == pii_catalogue.render(), "run `make pii`"


@pytest.mark.parametrize(
    ("table", "column", "expected"),
    [
        ("users", "email", "personal"),
        ("users", "display_name", "personal"),
        ("users", "password_hash", "secret"),
        ("refresh_tokens", "token_hash", "secret"),
        ("webhook_endpoints", "secret", "secret"),
        ("orders", "placed_by", "pseudonymous-id"),
        ("orders", "cancel_note", "personal"),
        ("idempotency_keys", "response_body", "secret"),
    ],
)
def test_known_personal_data_and_secrets_keep_their_class(
    table: str, column: str, expected: str
) -> None:
    marks = {(e.table, e.column): e.mark for e in pii_marks.columns()}
    mark = marks[(table, column)]
    assert mark is not None
    assert mark.classification == expected


def test_a_column_or_table_without_a_mark_is_reported() -> None:
    metadata = MetaData()
    Table(
        "t",
        metadata,
        Column("id", Integer, primary_key=True, info=pii.none()),
        Column("added_later", Integer),
        info=pii.held_for("a test", retention="orders"),
    )
    Table("bare", metadata, Column("id", Integer, primary_key=True, info=pii.none()))
    assert pii.unclassified([metadata]) == ["bare", "t.added_later"]


CONTRACT = """\
openapi: 3.1.0
info: {title: t, version: '1'}
paths: {}
components:
  schemas:
    Person:
      type: object
      properties:
        id: {type: string, x-pii: none}
        email: {type: string, format: email}
        name: {type: string, x-pii: personal}
        nick: {type: string, x-pii: {class: personal, purpose: "shown to colleagues"}}
        code: {$ref: '#/components/schemas/Code'}
        address: {$ref: '#/components/schemas/Address'}
    Code: {type: string}
    Address:
      type: object
      properties:
        street: {type: string, x-pii: {class: personal}}
"""


def test_a_contract_field_without_a_valid_mark_is_reported(tmp_path: Path) -> None:
    (tmp_path / "contracts" / "openapi").mkdir(parents=True)
    (tmp_path / "contracts" / "openapi" / "people.yaml").write_text(CONTRACT)
    problems = pii_marks.field_problems(tmp_path)
    assert [p.split(":")[1].strip() for p in problems] == [
        "Person.email",  # no mark
        "Person.name",  # a class alone, without its purpose
        "Person.code",  # a $ref to a scalar schema that has no mark
        "Address.street",  # a purpose is required
    ]
    fields = {(e.schema, e.field): e.classification for e in pii_marks.fields(tmp_path)}
    assert fields[("Person", "nick")] == "personal"
    assert ("Person", "address") not in fields  # classified by Address's own fields
