"""An MCP server over a small SQLite inventory: stock, reservations and prices.

The database comes from ``--db PATH`` or ``INVENTORY_DB`` (default: a file in
the temp directory) and is seeded from ``fixtures/inventory.json`` while its
product table is empty. Writes are idempotent: ``reserve`` on its
``reservation_id`` and ``set_price`` on its ``change_id``, both stored under a
UNIQUE constraint, so a retried call changes nothing and answers
``applied: false``. The file is in WAL mode, shared safely by several server
processes (see ``_sqlite``; ``--synchronous full`` syncs every commit).

Run: ``python -m examples.mcp_servers.inventory_db --db inv.sqlite`` (stdio)
or add ``--http PORT``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from examples.mcp_servers import FIXTURES, _sqlite, serve, transport_parser

SEED = FIXTURES / "inventory.json"
DEFAULT_DB = Path(tempfile.gettempdir()) / "agentflux-inventory.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    product_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0),
    reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    price REAL NOT NULL CHECK (price > 0)
);
CREATE TABLE IF NOT EXISTS reservations (
    reservation_id TEXT NOT NULL UNIQUE,
    product_id TEXT NOT NULL REFERENCES products (product_id),
    quantity INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS price_changes (
    change_id TEXT NOT NULL UNIQUE,
    product_id TEXT NOT NULL REFERENCES products (product_id),
    old_price REAL NOT NULL,
    new_price REAL NOT NULL,
    applied_at TEXT NOT NULL
);
"""

mcp = MCPServer("inventory-db", instructions="Stock, reservations and prices.", log_level="WARNING")
_db_path = Path(os.environ.get("INVENTORY_DB") or DEFAULT_DB)


def init_db(path: Path, seed: Path = SEED) -> None:
    """Create the tables, and seed the products while there are none."""
    _sqlite.prepare(path, SCHEMA)
    with _transaction(path) as db:
        if db.execute("SELECT COUNT(*) FROM products").fetchone()[0] == 0:
            rows = json.loads(seed.read_text(encoding="utf-8"))
            db.executemany(
                "INSERT INTO products (product_id, name, stock, price) VALUES (?, ?, ?, ?)",
                [(r["product_id"], r["name"], r["stock"], r["price"]) for r in rows],
            )


@contextmanager
def _transaction(path: Path | None = None, *, write: bool = True) -> Iterator[sqlite3.Connection]:
    with _sqlite.transaction(path or _db_path, write=write) as db:
        yield db


def _product(db: sqlite3.Connection, product_id: str) -> sqlite3.Row:
    row: sqlite3.Row | None = db.execute("SELECT * FROM products WHERE product_id = ?", (product_id,)).fetchone()
    if row is None:
        raise ToolError(f"unknown product {product_id!r}")
    return row


def _now() -> str:
    return datetime.now(UTC).isoformat()


@mcp.tool()
def get_inventory(product_id: str) -> dict[str, Any]:
    """Stock on hand, units reserved, units available and the current price of a product."""
    with _transaction(write=False) as db:
        return _inventory(db, product_id)


@mcp.tool()
def get_inventories(product_ids: list[str]) -> list[dict[str, Any]]:
    """``get_inventory`` of several products, read at one moment: one answer per id, in order.

    An unknown product's answer is ``{"error": "unknown product ..."}``.
    """
    with _transaction(write=False) as db:
        return _sqlite.each_apart(db, product_ids, lambda product_id: _inventory(db, product_id))


def _inventory(db: sqlite3.Connection, product_id: str) -> dict[str, Any]:
    row = _product(db, product_id)
    return {
        "product_id": product_id,
        "name": row["name"],
        "stock": row["stock"],
        "reserved": row["reserved"],
        "available": row["stock"] - row["reserved"],
        "price": row["price"],
    }


@mcp.tool()
def reserve(product_id: str, quantity: int, reservation_id: str) -> dict[str, Any]:
    """Reserve units of a product. Idempotent on ``reservation_id``: a repeat answers ``applied: false``."""
    if quantity <= 0:
        raise ToolError("quantity must be positive")
    with _transaction() as db:
        row = _product(db, product_id)
        prior = db.execute("SELECT * FROM reservations WHERE reservation_id = ?", (reservation_id,)).fetchone()
        if prior is not None:
            if (prior["product_id"], prior["quantity"]) != (product_id, quantity):
                raise ToolError(f"reservation {reservation_id!r} already exists for a different request")
            applied = False
        else:
            available = row["stock"] - row["reserved"]
            if quantity > available:
                raise ToolError(f"insufficient stock for {product_id!r}: {quantity} requested, {available} available")
            db.execute("INSERT INTO reservations VALUES (?, ?, ?, ?)", (reservation_id, product_id, quantity, _now()))
            db.execute("UPDATE products SET reserved = reserved + ? WHERE product_id = ?", (quantity, product_id))
            applied = True
        available_now = db.execute(
            "SELECT stock - reserved FROM products WHERE product_id = ?", (product_id,)
        ).fetchone()[0]
    return {
        "reservation_id": reservation_id,
        "product_id": product_id,
        "quantity": quantity,
        "applied": applied,
        "available": available_now,
    }


class PriceChange(BaseModel):
    product_id: str
    price: float
    change_id: str


@mcp.tool()
def set_price(product_id: str, price: float, change_id: str) -> dict[str, Any]:
    """Set a product's price. Idempotent on ``change_id``: a repeat changes nothing and answers ``applied: false``."""
    with _transaction() as db:
        return _set_price(db, product_id, price, change_id)


@mcp.tool()
def set_prices(changes: list[PriceChange]) -> list[dict[str, Any]]:
    """``set_price`` for several changes in one transaction (one commit): one answer per change, in order.

    A change that fails (unknown product, a change id applied with another
    price) changes nothing and answers ``{"error": ...}``; the others are applied.
    """
    with _transaction() as db:
        return _sqlite.each_apart(db, changes, lambda c: _set_price(db, c.product_id, c.price, c.change_id))


def _set_price(db: sqlite3.Connection, product_id: str, price: float, change_id: str) -> dict[str, Any]:
    if price <= 0:
        raise ToolError("price must be positive")
    price = round(price, 2)
    row = _product(db, product_id)
    prior = db.execute("SELECT * FROM price_changes WHERE change_id = ?", (change_id,)).fetchone()
    if prior is not None:
        if (prior["product_id"], prior["new_price"]) != (product_id, price):
            raise ToolError(f"change {change_id!r} was already applied with a different price or product")
        return {
            "product_id": product_id,
            "change_id": change_id,
            "applied": False,
            "previous_price": prior["old_price"],
            "price": row["price"],
        }
    db.execute("INSERT INTO price_changes VALUES (?, ?, ?, ?, ?)", (change_id, product_id, row["price"], price, _now()))
    db.execute("UPDATE products SET price = ? WHERE product_id = ?", (price, product_id))
    return {
        "product_id": product_id,
        "change_id": change_id,
        "applied": True,
        "previous_price": row["price"],
        "price": price,
    }


@mcp.tool()
def list_price_changes(product_id: str | None = None) -> list[dict[str, Any]]:
    """Applied price changes, oldest first, optionally for one product."""
    query = "SELECT * FROM price_changes" + (" WHERE product_id = ?" if product_id else "") + " ORDER BY rowid"
    with _transaction(write=False) as db:
        rows = db.execute(query, (product_id,) if product_id else ()).fetchall()
    return [dict(row) for row in rows]


def main(argv: list[str] | None = None) -> None:
    global _db_path
    parser = transport_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--db", type=Path, help="SQLite file (default: $INVENTORY_DB or a temp file)")
    parser.add_argument("--synchronous", choices=_sqlite.SYNCHRONOUS, default="normal", help="see _sqlite.py")
    args = parser.parse_args(argv)
    if args.db is not None:
        _db_path = args.db
    _sqlite.configure(synchronous=args.synchronous)
    init_db(_db_path)
    serve(mcp, args.http)


if __name__ == "__main__":
    main()
