"""An MCP server over a small SQLite maintenance database: machine history, technician slots, bookings.

The database comes from ``--db PATH`` or ``MAINTENANCE_DB`` (default: a file in
the temp directory). While empty, the history is seeded from
``fixtures/maintenance_history.json`` (dates relative to today), and the slots
with one per technician every ``SLOT_HOURS`` for ``SLOT_DAYS`` days from the
next full hour.

A machine is never double-booked: ``book_maintenance`` answers a machine that
already has an open booking with that booking (``created: false``), and a
partial UNIQUE index on ``bookings (machine_id) WHERE status = 'open'`` holds
the rule even against writers that do not ask first. Another index keeps a
slot to one open booking. ``complete_booking`` closes a booking (and writes
the service into the history), after which the machine can be booked again.

Run: ``python -m examples.mcp_servers.maintenance_db --db maint.sqlite`` (stdio)
or add ``--http PORT``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from examples.mcp_servers import FIXTURES, serve, transport_parser

SEED = FIXTURES / "maintenance_history.json"
DEFAULT_DB = Path(tempfile.gettempdir()) / "agentflux-maintenance.sqlite"
TECHNICIANS = ("ana", "ben", "chen")
SLOT_HOURS, SLOT_DAYS = 4, 7
LEAD = {"urgent": timedelta(0), "high": timedelta(hours=4), "normal": timedelta(hours=24)}
SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
    machine_id TEXT NOT NULL,
    happened_on TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('failure', 'repair', 'service')),
    note TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS slots (slot_id TEXT PRIMARY KEY, starts_at TEXT NOT NULL, technician TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bookings (
    booking_id TEXT PRIMARY KEY,
    machine_id TEXT NOT NULL,
    slot_id TEXT NOT NULL REFERENCES slots (slot_id),
    priority TEXT NOT NULL CHECK (priority IN ('normal', 'high', 'urgent')),
    reason TEXT NOT NULL,
    request_id TEXT NOT NULL UNIQUE,
    anomaly_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done')),
    booked_at TEXT NOT NULL,
    closed_at TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_open_booking_per_machine ON bookings (machine_id) WHERE status = 'open';
CREATE UNIQUE INDEX IF NOT EXISTS one_open_booking_per_slot ON bookings (slot_id) WHERE status = 'open';
"""
BOOKING = "SELECT b.*, s.starts_at, s.technician FROM bookings b JOIN slots s USING (slot_id)"

mcp = MCPServer("maintenance-db", instructions="Machine history and maintenance bookings.", log_level="WARNING")
_db_path = Path(os.environ.get("MAINTENANCE_DB") or DEFAULT_DB)


def init_db(path: Path, seed: Path = SEED, now: datetime | None = None) -> None:
    """Create the tables; seed the history and the slots while they are empty."""
    now = now or datetime.now(UTC)
    with closing(sqlite3.connect(path)) as db:
        db.executescript(SCHEMA)
    with _transaction(path) as db:
        if db.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 0:
            rows = json.loads(seed.read_text(encoding="utf-8"))
            db.executemany(
                "INSERT INTO history VALUES (?, ?, ?, ?)",
                [(r["machine_id"], (now - timedelta(days=r["days_ago"])).date().isoformat(), r["kind"], r["note"])
                 for r in rows],
            )  # fmt: skip
        if db.execute("SELECT COUNT(*) FROM slots").fetchone()[0] == 0:
            first = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            starts = [first + timedelta(hours=SLOT_HOURS * n) for n in range(24 // SLOT_HOURS * SLOT_DAYS)]
            db.executemany(
                "INSERT INTO slots VALUES (?, ?, ?)",
                [(f"{s:%Y%m%dT%H%M}-{t}", s.isoformat(), t) for s in starts for t in TECHNICIANS],
            )


@contextmanager
def _transaction(path: Path | None = None) -> Iterator[sqlite3.Connection]:
    # One short-lived connection per call (tools may run on different threads); BEGIN IMMEDIATE
    # serialises writers, so "is there an open booking?" and the insert are one step.
    with closing(sqlite3.connect(path or _db_path, timeout=10, isolation_level=None)) as db:
        db.row_factory = sqlite3.Row
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _booking(row: sqlite3.Row, created: bool) -> dict[str, Any]:
    keys = ("booking_id", "machine_id", "slot_id", "priority", "reason", "request_id", "anomaly_id", "status")
    return {**{k: row[k] for k in keys}, "slot_start": row["starts_at"], "technician": row["technician"],
            "booked_at": row["booked_at"], "created": created}  # fmt: skip


def _open_booking(db: sqlite3.Connection, machine_id: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        f"{BOOKING} WHERE b.machine_id = ? AND b.status = 'open'", (machine_id,)
    ).fetchone()
    return row


@mcp.tool()
def machine_history(machine_id: str) -> dict[str, Any]:
    """A machine's maintenance history (newest first), its failures in the last 180 days and its open booking."""
    today = datetime.now(UTC).date()
    with _transaction() as db:
        rows = db.execute(
            "SELECT happened_on, kind, note FROM history WHERE machine_id = ? ORDER BY happened_on DESC", (machine_id,)
        ).fetchall()
        booking = _open_booking(db, machine_id)
    records = [dict(r) for r in rows]
    since = (today - timedelta(days=180)).isoformat()
    services = [r["happened_on"] for r in records if r["kind"] in ("repair", "service")]
    return {
        "machine_id": machine_id,
        "records": records,
        "failures_180d": sum(r["kind"] == "failure" and r["happened_on"] >= since for r in records),
        "last_service": services[0] if services else None,
        "open_booking": _booking(booking, False) if booking is not None else None,
    }


@mcp.tool()
def book_maintenance(machine_id: str, priority: str, reason: str, request_id: str, anomaly_id: str) -> dict[str, Any]:
    """Book the earliest free slot the priority allows; never a second open booking for one machine.

    Idempotent: a machine with an open booking, or a repeated ``request_id``,
    gets the existing booking back with ``created: false``.
    """
    if priority not in LEAD:
        raise ToolError(f"priority must be one of {sorted(LEAD)}, got {priority!r}")
    not_before = (datetime.now(UTC) + LEAD[priority]).isoformat()
    with _transaction() as db:
        prior = db.execute(f"{BOOKING} WHERE b.request_id = ?", (request_id,)).fetchone()
        prior = prior or _open_booking(db, machine_id)
        if prior is not None:
            return _booking(prior, False)
        slot = db.execute(
            "SELECT slot_id FROM slots WHERE starts_at >= ? AND slot_id NOT IN "
            "(SELECT slot_id FROM bookings WHERE status = 'open') ORDER BY starts_at, technician LIMIT 1",
            (not_before,),
        ).fetchone()
        if slot is None:
            raise ToolError(f"no free maintenance slot from {not_before}")
        booking_id = f"b-{uuid.uuid4().hex[:10]}"
        db.execute(
            "INSERT INTO bookings (booking_id, machine_id, slot_id, priority, reason, request_id, anomaly_id, "
            "booked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (booking_id, machine_id, slot["slot_id"], priority, reason, request_id, anomaly_id,
             datetime.now(UTC).isoformat()),
        )  # fmt: skip
        return _booking(db.execute(f"{BOOKING} WHERE b.booking_id = ?", (booking_id,)).fetchone(), True)


@mcp.tool()
def complete_booking(booking_id: str, note: str = "preventive maintenance done") -> dict[str, Any]:
    """Close an open booking and record the service in the machine's history."""
    with _transaction() as db:
        row = db.execute(f"{BOOKING} WHERE b.booking_id = ?", (booking_id,)).fetchone()
        if row is None:
            raise ToolError(f"unknown booking {booking_id!r}")
        if row["status"] == "open":
            now = datetime.now(UTC)
            db.execute("UPDATE bookings SET status = 'done', closed_at = ? WHERE booking_id = ?", (now.isoformat(),
                       booking_id))  # fmt: skip
            db.execute("INSERT INTO history VALUES (?, ?, 'service', ?)", (row["machine_id"], now.date().isoformat(),
                       note))  # fmt: skip
            row = db.execute(f"{BOOKING} WHERE b.booking_id = ?", (booking_id,)).fetchone()
    return _booking(row, False)


@mcp.tool()
def list_bookings(status: str | None = "open") -> list[dict[str, Any]]:
    """Bookings, oldest first: the open ones by default, every one with ``status=None``."""
    where, args = (" WHERE b.status = ?", (status,)) if status else ("", ())
    with _transaction() as db:
        rows = db.execute(f"{BOOKING}{where} ORDER BY b.rowid", args).fetchall()
    return [_booking(r, False) for r in rows]


def main(argv: list[str] | None = None) -> None:
    global _db_path
    parser = transport_parser(__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--db", type=Path, help="SQLite file (default: $MAINTENANCE_DB or a temp file)")
    args = parser.parse_args(argv)
    if args.db is not None:
        _db_path = args.db
    init_db(_db_path)
    serve(mcp, args.http)


if __name__ == "__main__":
    main()
