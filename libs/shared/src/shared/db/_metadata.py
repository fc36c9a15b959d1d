"""One naming convention for every service's tables, so constraint names are predictable.

Migrations name constraints as the models do (``orders_pkey``, ``orders_org_id_idx``,
``payments_order_id_key``), and the drift test compares the two.
"""

from __future__ import annotations

from types import MappingProxyType

from sqlalchemy import MetaData

__all__ = ["NAMING_CONVENTION", "service_metadata"]

NAMING_CONVENTION = MappingProxyType(
    {
        "ix": "%(table_name)s_%(column_0_N_name)s_idx",
        "uq": "%(table_name)s_%(column_0_N_name)s_key",
        "ck": "%(table_name)s_%(constraint_name)s_ck",
        "fk": "%(table_name)s_%(column_0_name)s_fkey",
        "pk": "%(table_name)s_pkey",
    }
)
"""PostgreSQL's own default names, made explicit (check constraints get a ``_ck`` suffix)."""


def service_metadata() -> MetaData:
    """A fresh ``MetaData`` for a service's tables, with :data:`NAMING_CONVENTION`."""
    return MetaData(naming_convention=dict(NAMING_CONVENTION))
