"""shared.pii: marks on columns and tables, and the check that finds what lacks one."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table

from shared import pii


def _metadata() -> tuple[MetaData, Table]:
    metadata = MetaData()
    table = Table(
        "people",
        metadata,
        Column("id", Integer, primary_key=True, info=pii.pseudonymous_id()),
        Column("email", String, info=pii.personal("contact address")),
        Column("token", String, info=pii.secret("a session token")),
        Column("plan", String, info=pii.none()),
        info=pii.held_for("accounts", retention="identity-records"),
    )
    return metadata, table


def test_marks_are_read_back_from_columns_and_tables() -> None:
    _, table = _metadata()
    marks = {c.name: pii.column_mark(c) for c in table.columns}
    assert marks["email"] == pii.PiiMark(pii.Classification.PERSONAL, "contact address")
    assert marks["token"] == pii.PiiMark(pii.Classification.SECRET, "a session token")
    assert marks["plan"] == pii.PiiMark(pii.Classification.NONE)
    assert pii.table_purpose(table) == pii.TablePurpose("accounts", "identity-records")


def test_a_fully_marked_metadata_has_nothing_unclassified() -> None:
    metadata, _ = _metadata()
    assert pii.unclassified([metadata]) == []


def test_an_added_column_without_a_mark_and_a_bare_table_are_reported() -> None:
    metadata, table = _metadata()
    table.append_column(Column("nickname", String))
    Table("notes", metadata, Column("id", Integer, primary_key=True, info=pii.none()))
    assert pii.unclassified([metadata]) == ["notes", "people.nickname"]


def test_each_column_gets_its_own_info_dict() -> None:
    # SQLAlchemy keeps ``info`` as given: a shared dict would let one column's edit leak.
    assert pii.none() is not pii.none()


def test_classes_are_ordered_by_sensitivity() -> None:
    ranks = [c.rank for c in pii.Classification]
    assert ranks == sorted(ranks)
    assert pii.Classification.SECRET.rank > pii.Classification.PERSONAL.rank
