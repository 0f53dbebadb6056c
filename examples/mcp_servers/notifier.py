"""An MCP server that notifies customers through an idempotent SQLite outbox.

``notify`` writes one outbox row per ``idempotency_key`` (a UNIQUE column): a
repeated key returns the first notification's id with ``duplicate: true`` and
sends nothing. "Sending" is the outbox row plus a line on stderr; a real
deployment would drain the outbox to e-mail or SMS.

The database comes from ``--db PATH`` or ``NOTIFIER_DB`` (default: a file in
the temp directory).

Run: ``python -m examples.mcp_servers.notifier --db outbox.sqlite`` (stdio)
or add ``--http PORT``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import uuid
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from examples.mcp_servers import serve, transport_parser

DEFAULT_DB = Path(tempfile.gettempdir()) / "agentflux-notifier.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    notification_id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""

mcp = MCPServer("notifier", instructions="Sends customer notifications, once per key.", log_level="WARNING")
_db_path = Path(os.environ.get("NOTIFIER_DB") or DEFAULT_DB)


class Notified(TypedDict):
    notification_id: str
    duplicate: bool


def _connect() -> sqlite3.Connection:
    # One short-lived connection per call: tools may run on different threads.
    db = sqlite3.connect(_db_path, timeout=10, isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def init_db(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db:
        db.execute(SCHEMA)


@mcp.tool()
def notify(customer_id: str, message: str, idempotency_key: str) -> Notified:
    """Send ``message`` to a customer once per ``idempotency_key``; a repeat answers ``duplicate: true``."""
    if not customer_id or not message or not idempotency_key:
        raise ToolError("customer_id, message and idempotency_key must be non-empty")
    notification_id = str(uuid.uuid4())
    with closing(_connect()) as db:
        inserted = db.execute(
            "INSERT INTO notifications VALUES (?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
            (notification_id, idempotency_key, customer_id, message, datetime.now(UTC).isoformat()),
        ).rowcount
        if not inserted:
            row = db.execute(
                "SELECT notification_id FROM notifications WHERE idempotency_key = ?", (idempotency_key,)
            ).fetchone()
            return Notified(notification_id=row["notification_id"], duplicate=True)
    print(f"notify {customer_id}: {message}", file=sys.stderr, flush=True)
    return Notified(notification_id=notification_id, duplicate=False)


@mcp.tool()
def list_notifications(limit: int = 100) -> list[dict[str, Any]]:
    """The most recent notifications in the outbox, newest first."""
    if limit <= 0:
        raise ToolError("limit must be positive")
    with closing(_connect()) as db:
        rows = db.execute("SELECT * FROM notifications ORDER BY rowid DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]


def main(argv: list[str] | None = None) -> None:
    global _db_path
    parser = transport_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--db", type=Path, help="SQLite file (default: $NOTIFIER_DB or a temp file)")
    args = parser.parse_args(argv)
    if args.db is not None:
        _db_path = args.db
    init_db(_db_path)
    serve(mcp, args.http)


if __name__ == "__main__":
    main()
