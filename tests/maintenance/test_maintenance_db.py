"""The maintenance-db MCP server's tools, called as plain functions on a real SQLite file (fast tier)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from examples.mcp_servers import maintenance_db as db


def book(machine: str, request: str, priority: str = "high") -> dict[str, object]:
    return db.book_maintenance(machine, priority, "vibration", request, f"anomaly-{request}")


def test_history_is_seeded_relative_to_today_and_counts_recent_failures(maintenance_db_path: Path) -> None:
    history = db.machine_history("m-003")
    assert [r["kind"] for r in history["records"]] == ["repair", "failure"]  # newest first
    assert history["failures_180d"] == 1 and history["open_booking"] is None
    assert history["last_service"] == (datetime.now(UTC) - timedelta(days=74)).date().isoformat()
    assert db.machine_history("m-007")["failures_180d"] == 0  # 200 days ago
    assert db.machine_history("m-999") == {
        "machine_id": "m-999", "records": [], "failures_180d": 0, "last_service": None, "open_booking": None,
    }  # fmt: skip


def test_a_machine_gets_one_open_booking_whatever_it_is_asked(maintenance_db_path: Path) -> None:
    first = book("m-003", "r1")
    assert first["created"] is True and first["status"] == "open"
    again = book("m-003", "r2", priority="urgent")  # another anomaly task of the same anomaly
    assert again["booking_id"] == first["booking_id"] and again["created"] is False
    assert book("m-003", "r1")["booking_id"] == first["booking_id"]  # a retried request
    other = book("m-011", "r3")
    assert other["created"] is True and other["slot_id"] != first["slot_id"]  # a slot holds one machine
    assert db.machine_history("m-003")["open_booking"]["booking_id"] == first["booking_id"]
    assert [b["machine_id"] for b in db.list_bookings()] == ["m-003", "m-011"]


def test_concurrent_requests_for_one_machine_book_it_once(maintenance_db_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: book("m-005", f"r{n}"), range(16)))
    assert sum(bool(a["created"]) for a in answers) == 1
    assert len({a["booking_id"] for a in answers}) == 1
    assert len(db.list_bookings()) == 1


def test_priority_sets_the_earliest_slot(maintenance_db_path: Path) -> None:
    now = datetime.now(UTC)
    urgent = datetime.fromisoformat(str(book("m-001", "a", "urgent")["slot_start"]))
    high = datetime.fromisoformat(str(book("m-002", "b", "high")["slot_start"]))
    normal = datetime.fromisoformat(str(book("m-004", "c", "normal")["slot_start"]))
    assert now < urgent <= now + timedelta(hours=1)
    assert high >= now + timedelta(hours=4) and normal >= now + timedelta(hours=24)
    with pytest.raises(ToolError, match="priority must be one of"):
        book("m-006", "d", "whenever")


def test_a_completed_booking_frees_the_machine_and_enters_its_history(maintenance_db_path: Path) -> None:
    first = book("m-011", "r1")
    done = db.complete_booking(str(first["booking_id"]), note="bearing greased")
    assert done["status"] == "done" and db.list_bookings() == []
    assert db.machine_history("m-011")["records"][0]["note"] == "bearing greased"
    assert book("m-011", "r1")["booking_id"] == first["booking_id"]  # the old request is still the old booking
    assert book("m-011", "r2")["created"] is True  # a new anomaly after the service
    with pytest.raises(ToolError, match="unknown booking"):
        db.complete_booking("b-nope")


def test_the_unique_index_holds_against_writers_that_do_not_ask(maintenance_db_path: Path) -> None:
    booked = book("m-003", "r1")
    other_slot = db.book_maintenance("m-004", "normal", "x", "r2", "a2")["slot_id"]
    db.complete_booking(str(db.list_bookings()[1]["booking_id"]))
    with closing(sqlite3.connect(maintenance_db_path)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO bookings (booking_id, machine_id, slot_id, priority, reason, request_id, anomaly_id, "
            "booked_at) VALUES ('b-x', 'm-003', ?, 'high', 'x', 'r9', 'a9', 'now')",
            (other_slot,),
        )
    assert booked["created"] is True
