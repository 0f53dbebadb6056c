"""One live MCP session, owned by a background task.

The SDK's transports run anyio task groups that must be entered and exited by
the same task. A pooled session is opened by whichever call needs it first and
closed much later by ``ToolPool.close()``, so neither of those tasks can own
it. A small owner task enters ``mcp.Client`` and waits; callers share the
entered client. A dead transport shows up as a failing call (the pool then
drops the connection) or, when the SDK tears the transport down itself, as the
owner task ending, which turns :attr:`Connection.alive` false.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, cast

from pydantic import ValidationError

from agentflux.mcp.servers import McpServerSpec

try:
    from mcp import Client, MCPError, StdioServerParameters
    from mcp.types import (
        CONNECTION_CLOSED,
        INTERNAL_ERROR,
        REQUEST_TIMEOUT,
        CallToolResult,
        RequestParamsMeta,
        Tool,
    )
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("agentflux.mcp needs the MCP SDK: pip install 'agentflux[mcp]'") from exc

logger = logging.getLogger("agentflux.mcp")

_MAX_LIST_PAGES = 100


class ConnectFailed(Exception):
    """The session could not be opened; ``__cause__`` says why."""


class Connection:
    """A session to one server. ``open()`` once, share ``client``, ``close()`` once.

    ``in_flight`` counts the calls using it now (the pool keeps it, to pick an idle session).
    """

    def __init__(self, spec: McpServerSpec) -> None:
        self.spec = spec
        self.in_flight = 0
        self.tools: dict[str, Tool] | None = None
        self._client: Client | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._failure: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and not self._stop.is_set()

    @property
    def finished(self) -> bool:
        """The owner task has ended (or never started): nothing left to shut down."""
        return self._task is None or self._task.done()

    @property
    def client(self) -> Client:
        if self._client is None or not self.alive:
            raise ConnectionError(f"MCP session to {self.spec.name!r} is closed")
        return self._client

    async def open(self) -> None:
        """Start the owner task and wait until the session is ready or has failed.

        Cancelling the wait stops the half-open session in the background.
        """
        self._task = asyncio.create_task(self._own(), name=f"agentflux-mcp-{self.spec.name}")
        self._task.add_done_callback(_consume_outcome)
        try:
            async with asyncio.timeout(self.spec.connect_timeout):
                await self._ready.wait()
        except TimeoutError:
            self.stop()
            raise ConnectFailed(f"cannot connect: no session within {self.spec.connect_timeout:g}s") from None
        except BaseException:
            self.stop()
            raise
        if self._client is None:
            raise ConnectFailed(f"cannot connect: {describe(self._failure)}") from self._failure

    def stop(self) -> None:
        """Ask the session to close, without waiting. Idempotent."""
        self._stop.set()
        if self._client is None and self._task is not None:
            self._task.cancel()  # still connecting: nothing to wind down politely

    async def close(self) -> None:
        """Close the session and wait for its transport to shut down. Idempotent."""
        self.stop()
        if self._task is not None:
            await asyncio.wait({self._task})

    async def refresh_tools(self) -> dict[str, Tool]:
        """Fetch the full tool listing (all pages) and remember it."""
        tools: dict[str, Tool] = {}
        cursor: str | None = None
        for _ in range(_MAX_LIST_PAGES):
            page = await self.client.list_tools(cursor=cursor, cache_mode="refresh")
            tools.update((tool.name, tool) for tool in page.tools)
            cursor = page.next_cursor
            if cursor is None:
                break
        self.tools = tools
        return tools

    async def _own(self) -> None:
        try:
            async with Client(self._target()) as client:
                self._client = client
                self._ready.set()
                await self._stop.wait()
        except Exception as exc:
            # The transport died or never came up; callers see it through `alive`.
            self._failure = exc
            if self._client is not None and not self._stop.is_set():
                logger.warning("MCP session to %r ended: %s", self.spec.name, describe(exc))
        finally:
            self._client = None
            self._ready.set()

    def _target(self) -> StdioServerParameters | str:
        spec = self.spec
        if spec.url is not None:
            return spec.url
        assert spec.command is not None
        program, *args = spec.command
        return StdioServerParameters(command=program, args=args, env=dict(spec.env or {}), cwd=spec.cwd)


def _consume_outcome(task: asyncio.Task[None]) -> None:
    # A failure is recorded in `_failure`; nobody else needs the task's exception.
    if not task.cancelled():
        task.exception()


def describe(exc: BaseException | None) -> str:
    """The innermost useful message of a (possibly grouped) exception."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if exc is None:
        return "the session closed"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def call_tool(conn: Connection, tool: str, arguments: dict[str, Any], meta: Mapping[str, str]) -> CallToolResult:
    """Send one ``tools/call``; SDK errors propagate for :func:`classify`."""
    request_meta = cast("RequestParamsMeta", {key: value for key, value in meta.items() if value})
    return await conn.client.call_tool(tool, arguments, meta=request_meta or None)


def classify(exc: Exception, conn: Connection | None) -> tuple[str, bool, bool]:
    """``(cause, transient, session_broken)`` for an exception raised by a call."""
    if isinstance(exc, ConnectFailed):
        return str(exc), True, True
    if isinstance(exc, MCPError):
        if exc.code in (CONNECTION_CLOSED, REQUEST_TIMEOUT):
            return f"connection lost: {exc.error.message}", True, True
        if exc.code == INTERNAL_ERROR:
            return f"server error: {exc.error.message}", True, False
        return f"server refused the request ({exc.code}): {exc.error.message}", False, False
    if conn is None or not conn.alive:
        return f"connection lost: {describe(exc)}", True, True
    if isinstance(exc, ValidationError | RuntimeError):
        return f"unexpected result: {describe(exc)}", False, False
    return f"connection failed: {describe(exc)}", True, True
