"""The baselines of ``make bench-saga``: bare FastAPI endpoints, one process (uvicorn, one worker).

- ``POST /orders``: the same shape of work a create endpoint does at its simplest: validate a
  JSON body with pydantic, insert one row with asyncpg, answer 201 with the row's id.
- ``GET /orders/{order_id}``: a JSON document of an order's size, no IO at all: the floor the
  gateway's proxying of ``GET /v1/orders/{id}`` is held to.

Run by run.py as its own process: ``python bench/saga/bare.py <port> <dsn>``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

DDL = """
CREATE TABLE IF NOT EXISTS bare_orders (
    id uuid PRIMARY KEY,
    currency text NOT NULL,
    lines jsonb NOT NULL,
    placed_at timestamptz NOT NULL DEFAULT now()
)
"""


class Line(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(ge=1, le=10000)


class PlaceOrder(BaseModel):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[Line] = Field(min_length=1, max_length=100)


#: A confirmed order as GET /v1/orders/{id} answers it (contract schema Order), less its id.
ORDER_VIEW: dict[str, object] = {
    "status": "confirmed",
    "currency": "EUR",
    "lines": [
        {"sku": "BENCH-1", "quantity": 1, "unit_price": {"amount_minor": 100, "currency": "EUR"}}
    ],
    "total": {"amount_minor": 100, "currency": "EUR"},
    "placed_by": "0194f2b0-0000-7000-8000-000000000002",
    "placed_at": "2026-12-06T12:00:00.000000Z",
    "updated_at": "2026-12-06T12:00:00.100000Z",
    "confirmed_at": "2026-12-06T12:00:00.100000Z",
    "closed_at": None,
    "status_reason": None,
    "version": 4,
}


def build(dsn: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
        async with app.state.pool.acquire() as conn:
            await conn.execute(DDL)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/orders", status_code=201)
    async def place(body: PlaceOrder, request: Request) -> dict[str, str]:
        order_id = uuid.uuid4()
        async with request.app.state.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO bare_orders (id, currency, lines) VALUES ($1, $2, $3::jsonb)",
                order_id,
                body.currency,
                body.model_dump_json(include={"lines"}),
            )
        return {"id": str(order_id)}

    @app.get("/orders/{order_id}")
    async def read(order_id: uuid.UUID) -> dict[str, object]:
        return {"id": str(order_id), **ORDER_VIEW}

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app


if __name__ == "__main__":
    port, dsn = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(build(dsn), host="127.0.0.1", port=port, log_level="warning", access_log=False)
