"""Persistence plumbing: the async SQLAlchemy engine and session factories, sized from settings.

Nothing here runs at import time; a service's ``bootstrap`` builds one engine per process.
"""

from shared.db._engine import check_postgres, create_engine, create_session_factory
from shared.db._uow import EventMapper, EventSource, SqlaUnitOfWork

__all__ = [
    "EventMapper",
    "EventSource",
    "SqlaUnitOfWork",
    "check_postgres",
    "create_engine",
    "create_session_factory",
]
