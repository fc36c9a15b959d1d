"""Personal-data classification where data is defined: on every table column.

Each column carries a :class:`PiiMark` in its ``info`` (``Column(..., info=pii.personal("..."))``)
and each table says why it holds its rows and which retention policy bounds them
(``Table(..., info=pii.held_for("...", retention="orders"))``). ``tools/pii`` reads these marks,
and the ``x-pii`` marks of the OpenAPI and AsyncAPI contracts, into docs/pii.md; its test fails
on any column left unclassified, so a new column cannot arrive without a decision about it.

Classes (the most sensitive content decides):

- ``none``: no information about a person (amounts, SKUs, states, technical metadata);
- ``pseudonymous-id``: an id that points at a person only through another table (a user id);
- ``personal``: identifies or describes a person (email, display name, free text they typed);
- ``secret``: grants access or proves identity (password hashes, tokens, signing secrets).
"""

from shared.pii._marks import (
    Classification,
    PiiMark,
    TablePurpose,
    column_mark,
    held_for,
    none,
    personal,
    pseudonymous_id,
    secret,
    table_purpose,
    unclassified,
)

__all__ = [
    "Classification",
    "PiiMark",
    "TablePurpose",
    "column_mark",
    "held_for",
    "none",
    "personal",
    "pseudonymous_id",
    "secret",
    "table_purpose",
    "unclassified",
]
