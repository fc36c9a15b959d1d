"""Persistence plumbing: the async SQLAlchemy engine and session factories, sized from settings.

Nothing here runs at import time; a service's ``bootstrap`` builds one engine per process.
"""

from shared.db._engine import check_postgres, create_engine, create_session_factory
from shared.db._metadata import NAMING_CONVENTION, service_metadata
from shared.db._reads import ReadOnlyDatabase
from shared.db._uow import EventMapper, SqlaUnitOfWork

__all__ = [
    "NAMING_CONVENTION",
    "EventMapper",
    "ReadOnlyDatabase",
    "SqlaUnitOfWork",
    "check_postgres",
    "create_engine",
    "create_session_factory",
    "service_metadata",
]
