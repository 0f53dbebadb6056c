"""The handle a unit of work calls one MCP server's tools through."""

from __future__ import annotations

import asyncio
import builtins
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from agentflux.contract.errors import LifecycleError, ToolError
from agentflux.mcp.servers import McpServerSpec
from agentflux.runtime import metrics
from agentflux.runtime.tracing import Tracing, traceparent_of

if TYPE_CHECKING:
    from agentflux.mcp._connection import Connection
    from agentflux.mcp.pool import ToolPool

logger = logging.getLogger("agentflux.mcp")


@dataclass(frozen=True)
class ToolInfo:
    """One tool a server offers: name, description and the JSON Schema of its arguments."""

    name: str
    description: str | None
    input_schema: Mapping[str, Any] = field(hash=False)


class ToolHandle:
    """Calls the tools of one MCP server on behalf of one unit of work.

    Contract:

    * Calls may run concurrently; overlapping calls get sessions of their
      own, up to the server's ``max_sessions``, then share them (see ``ToolPool``).
    * Each call is bounded by the server's ``timeout``; opening a session
      first, when there is none, by its ``connect_timeout``. On timeout the
      server counts as hung: the session is dropped and a transient
      :class:`ToolError` is raised.
    * Cancelling a call abandons the wait. The server may still finish the
      tool, so tools with side effects should take an idempotency key (the
      example servers take ``change_id``, ``reservation_id``,
      ``idempotency_key``); agentflux never retries a call by itself.
    * Terminal outcomes: a value; a transient ``ToolError`` (the server could
      not be reached or did not answer; retrying may succeed); a permanent
      ``ToolError`` (unknown tool, the tool reported an error, the server
      refused the request; retrying will not help).
    """

    def __init__(
        self, pool: ToolPool, spec: McpServerSpec, meta: dict[str, str], tracing: Tracing | None = None
    ) -> None:
        self._pool = pool
        self._spec = spec
        self._meta = meta
        self._tracing = tracing if tracing is not None and tracing.active else None

    @property
    def server(self) -> str:
        return self._spec.name

    async def call(self, tool: str, /, **arguments: Any) -> Any:
        """Call ``tool`` with keyword ``arguments`` and return its result.

        The result is the tool's structured content when it has some (without
        the SDK's ``{"result": ...}`` wrapper around non-object returns), else
        its text content parsed as JSON when it is JSON, else the text.
        """
        if self._tracing is not None:
            attributes = {"mcp.method.name": "tools/call", "gen_ai.operation.name": "execute_tool",
                          "gen_ai.tool.name": tool, "agentflux.mcp.server": self.server}  # fmt: skip
            with self._tracing.span(f"tools/call {tool}", SpanKind.CLIENT, attributes=attributes) as span:
                return await self._timed(tool, arguments, {**self._meta, "traceparent": traceparent_of(span) or ""})
        return await self._timed(tool, arguments, self._meta)

    async def _timed(self, tool: str, arguments: dict[str, Any], meta: dict[str, str]) -> Any:
        started = time.perf_counter()
        outcome = "cancelled"
        try:
            value = await self._call(tool, arguments, meta)
            outcome = "ok"
            return value
        except ToolError as exc:
            outcome = f"failed ({'transient' if exc.transient else 'permanent'}): {exc.cause}"
            raise
        except Exception as exc:
            outcome = f"failed: {type(exc).__name__}: {exc}"
            raise
        finally:
            self._log(tool, outcome, (time.perf_counter() - started) * 1000)

    async def list(self) -> builtins.list[ToolInfo]:
        """The tools the server offers, fetched from the server now."""
        conn: Connection | None = None
        try:
            async with self._pool._session(self._spec) as conn, asyncio.timeout(self._spec.timeout):
                tools = await conn.refresh_tools()
        except (ToolError, LifecycleError):
            raise
        except Exception as exc:
            raise self._failure(None, exc, conn) from exc
        return [ToolInfo(t.name, t.description, dict(t.input_schema)) for t in tools.values()]

    async def _call(self, tool: str, arguments: dict[str, Any], meta: dict[str, str]) -> Any:
        from agentflux.mcp import _connection as sdk
        from agentflux.mcp import _results

        conn: Connection | None = None
        try:
            async with self._pool._session(self._spec) as conn, asyncio.timeout(self._spec.timeout):
                tools = conn.tools if conn.tools is not None and tool in conn.tools else None
                if tools is None:
                    tools = await conn.refresh_tools()
                if tool not in tools:
                    offered = ", ".join(sorted(tools)) or "no tools"
                    cause = f"unknown tool {tool!r}; server {self.server!r} offers: {offered}"
                    raise ToolError(self.server, tool, cause, transient=False)
                result = await sdk.call_tool(conn, tool, arguments, meta)
        except (ToolError, LifecycleError):
            raise
        except Exception as exc:
            raise self._failure(tool, exc, conn) from exc
        if result.is_error:
            raise ToolError(self.server, tool, _results.error_text(result), transient=False)
        return _results.result_value(result, tools.get(tool))

    def _failure(self, tool: str | None, exc: Exception, conn: Connection | None) -> ToolError:
        from agentflux.mcp._connection import classify

        if isinstance(exc, TimeoutError):
            cause, transient, broken = f"no answer within {self._spec.timeout:g}s", True, True
        else:
            cause, transient, broken = classify(exc, conn)
        if broken and conn is not None:
            self._pool._drop(conn)
        return ToolError(self.server, tool, cause, transient=transient)

    def _log(self, tool: str, outcome: str, elapsed_ms: float) -> None:
        measured = metrics.current()
        if measured.active:
            result = "ok" if outcome == "ok" else "error"
            measured.tool_duration.record(elapsed_ms / 1000, {"server": self.server, "tool": tool, "outcome": result})
        cid = self._meta.get("correlation_id")
        logger.log(
            logging.INFO if outcome == "ok" else logging.WARNING,
            "MCP call %s.%s took %.1f ms (correlation_id=%s): %s",
            self.server, tool, elapsed_ms, cid, outcome,
            extra={"mcp_server": self.server, "mcp_tool": tool, "correlation_id": cid,
                   "duration_ms": elapsed_ms, "outcome": outcome},
        )  # fmt: skip
