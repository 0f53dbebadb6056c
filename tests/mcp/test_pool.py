"""ToolPool and ToolHandle against the test-only ``testkit`` MCP server, as real subprocesses."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentflux.contract.errors import ConfigError, LifecycleError, ToolError
from agentflux.mcp import McpServerSpec, ToolInfo, ToolPool

# Real MCP server subprocesses: the `services` tier, not the fast one.
pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
TESTKIT = Path(__file__).resolve().parent / "servers" / "testkit.py"
PYTHON = sys.executable
META = {
    "correlation_id": "corr-42",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "tracestate": "",
}


def stdio(timeout: float = 5.0, max_sessions: int = 4) -> McpServerSpec:
    command = [PYTHON, str(TESTKIT)]
    return McpServerSpec("kit", command=command, cwd=str(REPO), timeout=timeout, max_sessions=max_sessions)


def http(server: Any, timeout: float = 5.0, max_sessions: int = 4) -> McpServerSpec:
    return McpServerSpec("kit", url=server.url, timeout=timeout, max_sessions=max_sessions)


@pytest.fixture(params=["stdio", "http"])
def kit(request: pytest.FixtureRequest, http_server: Callable[..., Any]) -> McpServerSpec:
    if request.param == "stdio":
        return stdio()
    return http(http_server(str(TESTKIT)))


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_calls_results_meta_and_logs(kit: McpServerSpec, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agentflux.mcp")
    async with ToolPool([kit]) as pool:
        tools = pool.handle("kit", META)
        seen = await tools.call("echo_meta")
        assert seen["correlation_id"] == "corr-42"
        assert seen["traceparent"] == META["traceparent"]
        assert "tracestate" not in seen  # empty values are not sent
        assert await tools.call("echo_text", text='{"a": [1, 2]}') == {"a": [1, 2]}
        assert await tools.call("echo_text", text="plain words") == "plain words"
        listed = await tools.list()
        assert all(isinstance(tool, ToolInfo) for tool in listed)
        sleep = next(tool for tool in listed if tool.name == "sleep")
        assert sleep.input_schema["properties"]["seconds"]["type"] == "number"
        assert sleep.description
        with pytest.raises(ToolError):
            await tools.call("fail", message="no")
    calls = [r for r in caplog.records if r.name == "agentflux.mcp" and hasattr(r, "duration_ms")]
    assert [(r.mcp_server, r.mcp_tool, r.correlation_id) for r in calls] == [  # type: ignore[attr-defined]
        ("kit", "echo_meta", "corr-42"),
        ("kit", "echo_text", "corr-42"),
        ("kit", "echo_text", "corr-42"),
        ("kit", "fail", "corr-42"),
    ]
    assert [r.levelno for r in calls] == [logging.INFO] * 3 + [logging.WARNING]


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_sessions_are_reused_and_shared_once_there_are_max_sessions(kit: McpServerSpec) -> None:
    async with ToolPool([dataclasses.replace(kit, max_sessions=2)]) as pool:
        pids = await asyncio.gather(*(pool.handle("kit").call("pid") for _ in range(8)))
        assert len(set(pids)) <= 2 and pool.session_count("kit") <= 2  # stdio: a process per session
        for _ in range(3):
            assert await pool.handle("kit", META).call("pid") in pids  # one call at a time: an idle session


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_overlapping_calls_to_one_server_get_sessions_of_their_own_and_run_at_once() -> None:
    # `block` holds its server process, so calls on one session (one process) run one after the other.
    async with ToolPool([stdio(max_sessions=4)]) as pool:
        spans = await asyncio.gather(*(pool.handle("kit").call("block", seconds=0.5) for _ in range(4)))
        assert len({s["pid"] for s in spans}) == 4 and pool.session_count("kit") == 4
        assert max(s["started"] for s in spans) < min(s["ended"] for s in spans)  # all four at once
        again = await asyncio.gather(*(pool.handle("kit").call("block", seconds=0.3) for _ in range(4)))
        assert {s["pid"] for s in again} == {s["pid"] for s in spans}  # the same four sessions, reused
        assert max(s["started"] for s in again) < min(s["ended"] for s in again)
        more = await asyncio.gather(*(pool.handle("kit").call("pid") for _ in range(12)))
        assert set(more) <= {s["pid"] for s in spans} and pool.session_count("kit") == 4  # never more than 4
    async with ToolPool([stdio(max_sessions=1)]) as pool:
        spans = await asyncio.gather(*(pool.handle("kit").call("block", seconds=0.2) for _ in range(3)))
        assert len({s["pid"] for s in spans}) == 1
        ordered = sorted(spans, key=lambda s: s["started"])
        assert all(a["ended"] <= b["started"] for a, b in itertools.pairwise(ordered))  # one at a time


# Each start appends a line (appends do not race, as a read-then-write count would when two extra
# sessions start at once) and counts the lines.
ONCE = """
import runpy, sys
marker, server = sys.argv[1], sys.argv[2]
with open(marker, "a") as out:
    out.write("start\\n")
if len(open(marker).read().splitlines()) > 1:
    sys.exit(3)  # only the first start of this server works
sys.argv = [server]
runpy.run_path(server, run_name="__main__")
"""


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_an_extra_session_that_cannot_open_leaves_calls_on_the_open_one(tmp_path: Path) -> None:
    script, marker = tmp_path / "once.py", tmp_path / "starts"
    script.write_text(ONCE)
    spec = McpServerSpec("kit", command=[PYTHON, str(script), str(marker), str(TESTKIT)], cwd=str(REPO), max_sessions=3)
    async with ToolPool([spec]) as pool:
        first = await pool.handle("kit").call("pid")
        spans = await asyncio.gather(*(pool.handle("kit").call("block", seconds=0.3) for _ in range(3)))
        assert {s["pid"] for s in spans} == {first}  # the two extra sessions failed to start: all on the first
        starts = len(marker.read_text().splitlines())
        assert starts == 3
        await asyncio.gather(*(pool.handle("kit").call("block", seconds=0.1) for _ in range(3)))
        no_new_attempt = len(marker.read_text().splitlines()) == starts  # for a while after a failed start
        assert no_new_attempt and pool.session_count("kit") == 1


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_permanent_errors(kit: McpServerSpec) -> None:
    async with ToolPool([kit]) as pool:
        tools = pool.handle("kit")
        with pytest.raises(ToolError) as unknown:
            await tools.call("no_such_tool")
        assert not unknown.value.transient
        assert (unknown.value.server, unknown.value.tool) == ("kit", "no_such_tool")
        assert "echo_meta, echo_text, fail, pid, sleep" in str(unknown.value)
        with pytest.raises(ToolError) as failed:
            await tools.call("fail", message="disk on fire")
        assert not failed.value.transient
        assert "disk on fire" in str(failed.value)
        with pytest.raises(ToolError) as bad_args:
            await tools.call("sleep", seconds="a while")
        assert not bad_args.value.transient


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_cancelled_call_keeps_session_and_hung_tool_times_out() -> None:
    async with ToolPool([stdio(timeout=1.0)]) as pool:
        tools = pool.handle("kit")
        first_pid = await tools.call("pid")
        cancelled = asyncio.create_task(tools.call("sleep", seconds=60))
        await asyncio.sleep(0.2)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await tools.call("pid") == first_pid  # cancelling a call keeps the session
        started = time.monotonic()
        with pytest.raises(ToolError) as hung:
            await tools.call("sleep", seconds=60)
        assert 0.9 < time.monotonic() - started < 3
        assert hung.value.transient
        assert (hung.value.server, hung.value.tool) == ("kit", "sleep")
        assert "no answer within 1s" in str(hung.value)
        assert await tools.call("pid") != first_pid


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_killed_stdio_server_is_transient_then_reconnects() -> None:
    async with ToolPool([stdio()]) as pool:
        tools = pool.handle("kit")
        pid = await tools.call("pid")
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.2)
        with pytest.raises(ToolError) as lost:
            await tools.call("pid")
        assert lost.value.transient
        new_pid = await tools.call("pid")
        assert new_pid != pid
        with pytest.raises(ToolError) as crashed:
            await tools.call("crash")  # the server dies mid-call
        assert crashed.value.transient
        assert await tools.call("pid") not in (pid, new_pid)


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_killed_http_server_is_transient_then_reconnects(http_server: Callable[..., Any]) -> None:
    server = http_server(str(TESTKIT))
    async with ToolPool([http(server)]) as pool:
        tools = pool.handle("kit")
        pid = await tools.call("pid")
        server.kill()
        with pytest.raises(ToolError) as lost:
            await tools.call("pid")
        assert lost.value.transient
        with pytest.raises(ToolError) as refused:
            await tools.call("pid")  # nothing listens: cannot connect
        assert refused.value.transient
        server.start()  # same port
        new_pid = await tools.call("pid")
        assert new_pid != pid
        with pytest.raises(ToolError) as crashed:
            await tools.call("crash")  # the server dies mid-request
        assert crashed.value.transient
        server.start()
        assert await tools.call("pid") not in (pid, new_pid)


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_server_that_cannot_start_is_transient(tmp_path: Path) -> None:
    missing = McpServerSpec("ghost", command=[str(tmp_path / "no-such-program")], timeout=5)
    async with ToolPool([missing]) as pool:
        with pytest.raises(ToolError) as failed:
            await pool.handle("ghost").call("anything")
        assert failed.value.transient
        assert failed.value.server == "ghost"
        assert "cannot connect" in str(failed.value)


@pytest.mark.timeout(60)
@pytest.mark.asyncio
async def test_server_that_never_answers_the_handshake_is_transient() -> None:
    # Reads stdin until EOF and never answers: the session cannot open.
    mute = McpServerSpec("mute", command=[PYTHON, "-c", "import sys; sys.stdin.read()"], connect_timeout=0.5)
    async with ToolPool([mute]) as pool:
        started = time.monotonic()
        results = await asyncio.gather(*(pool.handle("mute").call("x") for _ in range(3)), return_exceptions=True)
        assert time.monotonic() - started < 2  # every attempt gives up after connect_timeout
        assert all(isinstance(r, ToolError) and r.transient for r in results)
        assert "no session within 0.5s" in str(results[0])


@pytest.mark.asyncio
async def test_lifecycle_and_unknown_server() -> None:
    pool = ToolPool([stdio()])
    with pytest.raises(ConfigError, match=r"no MCP server named 'nope'; declared servers: kit"):
        pool.handle("nope")
    assert pool.handle("kit").server == "kit"  # start() is optional: sessions open on first use
    await pool.start()
    await pool.start()
    handle = pool.handle("kit")
    await pool.close()
    await pool.close()
    with pytest.raises(LifecycleError):
        pool.handle("kit")
    with pytest.raises(LifecycleError, match="after close"):
        await handle.call("pid")
    with pytest.raises(LifecycleError):
        await pool.start()
    with pytest.raises(ConfigError, match="declared twice"):
        ToolPool([stdio(), stdio()])
