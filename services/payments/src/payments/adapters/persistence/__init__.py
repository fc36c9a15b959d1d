"""PostgreSQL persistence of payments (SQLAlchemy Core, asyncpg)."""
