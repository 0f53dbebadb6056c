"""The maintenance-db server as a real MCP stdio subprocess, called through ToolPool (the ``services`` tier)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from agentflux.contract.errors import ToolError
from agentflux.mcp import McpServerSpec, ToolPool

pytestmark = [pytest.mark.services, pytest.mark.asyncio, pytest.mark.timeout(60)]
REPO = Path(__file__).resolve().parents[2]


async def test_history_and_one_booking_per_machine_over_mcp(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "examples.mcp_servers.maintenance_db", "--db", str(tmp_path / "m.sqlite")]
    async with ToolPool([McpServerSpec("maintenance-db", command=command, cwd=str(REPO))]) as pool:
        db = pool.handle("maintenance-db", {"correlation_id": "c-1"})
        history = await db.call("machine_history", machine_id="m-003")
        assert history["failures_180d"] == 1 and history["open_booking"] is None

        async def book(request: str) -> dict[str, object]:
            answer: dict[str, object] = await db.call(
                "book_maintenance", machine_id="m-003", priority="high", reason="vibration", request_id=request,
                anomaly_id=f"a-{request}",
            )  # fmt: skip
            return answer

        answers = await asyncio.gather(*(book(f"r{n}") for n in range(5)))
        assert sum(bool(a["created"]) for a in answers) == 1 and len({a["booking_id"] for a in answers}) == 1
        history = await db.call("machine_history", machine_id="m-003")
        assert history["open_booking"]["booking_id"] == answers[0]["booking_id"]
        assert [b["machine_id"] for b in await db.call("list_bookings")] == ["m-003"]
        with pytest.raises(ToolError, match="priority must be one of") as failed:
            await db.call("book_maintenance", machine_id="m-1", priority="soon", reason="x", request_id="q",
                          anomaly_id="a")  # fmt: skip
        assert not failed.value.transient
