"""An MCP server over a small SQLite inventory: stock, reservations and prices.

The database comes from ``--db PATH`` or ``INVENTORY_DB`` (default: a file in
the temp directory) and is seeded from ``fixtures/inventory.json`` while its
product table is empty. Writes are idempotent: ``reserve`` on its
``reservation_id`` and ``set_price`` on its ``change_id``, both stored under a
UNIQUE constraint, so a retried call changes nothing and answers
``applied: false``.

Run: ``python -m examples.mcp_servers.inventory_db --db inv.sqlite`` (stdio)
or add ``--http PORT``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from examples.mcp_servers import FIXTURES, serve, transport_parser

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
    with closing(sqlite3.connect(path)) as db:
        db.executescript(SCHEMA)
    with _transaction(path) as db:
        if db.execute("SELECT COUNT(*) FROM products").fetchone()[0] == 0:
            rows = json.loads(seed.read_text(encoding="utf-8"))
            db.executemany(
                "INSERT INTO products (product_id, name, stock, price) VALUES (?, ?, ?, ?)",
                [(r["product_id"], r["name"], r["stock"], r["price"]) for r in rows],
            )


@contextmanager
def _transaction(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    # One short-lived connection per call: tools may run on different threads.
    with closing(sqlite3.connect(path or _db_path, timeout=10, isolation_level=None)) as db:
        db.row_factory = sqlite3.Row
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


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
    with _transaction() as db:
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


@mcp.tool()
def set_price(product_id: str, price: float, change_id: str) -> dict[str, Any]:
    """Set a product's price. Idempotent on ``change_id``: a repeat changes nothing and answers ``applied: false``."""
    if price <= 0:
        raise ToolError("price must be positive")
    price = round(price, 2)
    with _transaction() as db:
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
        db.execute(
            "INSERT INTO price_changes VALUES (?, ?, ?, ?, ?)", (change_id, product_id, row["price"], price, _now())
        )
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
    with _transaction() as db:
        rows = db.execute(query, (product_id,) if product_id else ()).fetchall()
    return [dict(row) for row in rows]


def main(argv: list[str] | None = None) -> None:
    global _db_path
    parser = transport_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--db", type=Path, help="SQLite file (default: $INVENTORY_DB or a temp file)")
    args = parser.parse_args(argv)
    if args.db is not None:
        _db_path = args.db
    init_db(_db_path)
    serve(mcp, args.http)


if __name__ == "__main__":
    main()
