"""PostgreSQL persistence of orders (SQLAlchemy Core, asyncpg)."""
