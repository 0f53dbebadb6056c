"""An MCP server that notifies customers through an idempotent SQLite outbox.

``notify`` writes one outbox row per ``idempotency_key`` (a UNIQUE column): a
repeated key returns the first notification's id with ``duplicate: true`` and
sends nothing. "Sending" is the outbox row plus a line on stderr; a real
deployment would drain the outbox to e-mail or SMS.

The database comes from ``--db PATH`` or ``NOTIFIER_DB`` (default: a file in
the temp directory). It is in WAL mode, shared safely by several server
processes (see ``_sqlite``; ``--synchronous full`` syncs every commit).

Run: ``python -m examples.mcp_servers.notifier --db outbox.sqlite`` (stdio)
or add ``--http PORT``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypedDict

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from examples.mcp_servers import _sqlite, serve, transport_parser

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


def init_db(path: Path) -> None:
    _sqlite.prepare(path, SCHEMA)


class Notification(BaseModel):
    customer_id: str
    message: str
    idempotency_key: str


@mcp.tool()
def notify(customer_id: str, message: str, idempotency_key: str) -> Notified:
    """Send ``message`` to a customer once per ``idempotency_key``; a repeat answers ``duplicate: true``."""
    with _sqlite.transaction(_db_path, write=True) as db:
        sent = _notify(db, customer_id, message, idempotency_key)
    _send(customer_id, message, duplicate=sent["duplicate"])
    return sent


@mcp.tool()
def notify_many(notifications: list[Notification]) -> list[dict[str, Any]]:
    """``notify`` for several notifications in one transaction (one commit): one answer per notification, in order.

    A notification that fails (an empty field) answers ``{"error": ...}``; the others are sent.
    """
    with _sqlite.transaction(_db_path, write=True) as db:
        answers = _sqlite.each_apart(
            db, notifications, lambda n: dict(_notify(db, n.customer_id, n.message, n.idempotency_key))
        )
    for notification, answer in zip(notifications, answers, strict=True):
        if "error" not in answer:
            _send(notification.customer_id, notification.message, duplicate=answer["duplicate"])
    return answers


def _notify(db: sqlite3.Connection, customer_id: str, message: str, idempotency_key: str) -> Notified:
    if not customer_id or not message or not idempotency_key:
        raise ToolError("customer_id, message and idempotency_key must be non-empty")
    notification_id = str(uuid.uuid4())
    inserted = db.execute(
        "INSERT INTO notifications VALUES (?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
        (notification_id, idempotency_key, customer_id, message, datetime.now(UTC).isoformat()),
    ).rowcount
    if not inserted:
        row = db.execute("SELECT notification_id FROM notifications WHERE idempotency_key = ?", (idempotency_key,))
        return Notified(notification_id=row.fetchone()["notification_id"], duplicate=True)
    return Notified(notification_id=notification_id, duplicate=False)


def _send(customer_id: str, message: str, *, duplicate: bool) -> None:
    """What "sending" is here: a line on stderr, once the outbox row is committed (never for a repeat)."""
    if not duplicate:
        print(f"notify {customer_id}: {message}", file=sys.stderr, flush=True)


@mcp.tool()
def list_notifications(limit: int = 100) -> list[dict[str, Any]]:
    """The most recent notifications in the outbox, newest first."""
    if limit <= 0:
        raise ToolError("limit must be positive")
    with _sqlite.transaction(_db_path, write=False) as db:
        rows = db.execute("SELECT * FROM notifications ORDER BY rowid DESC LIMIT ?", (limit,)).fetchall()
    return [dict(row) for row in rows]


def main(argv: list[str] | None = None) -> None:
    global _db_path
    parser = transport_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--db", type=Path, help="SQLite file (default: $NOTIFIER_DB or a temp file)")
    parser.add_argument("--synchronous", choices=_sqlite.SYNCHRONOUS, default="normal", help="see _sqlite.py")
    args = parser.parse_args(argv)
    if args.db is not None:
        _db_path = args.db
    _sqlite.configure(synchronous=args.synchronous)
    init_db(_db_path)
    serve(mcp, args.http)


if __name__ == "__main__":
    main()
