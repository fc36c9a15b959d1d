"""PostgreSQL persistence of catalog (SQLAlchemy Core, asyncpg)."""
