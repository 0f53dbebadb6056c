"""A per-process pool of MCP sessions: up to ``max_sessions`` per declared server, opened on first use."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING

from agentflux.contract.errors import ConfigError, LifecycleError
from agentflux.mcp.handle import ToolHandle
from agentflux.mcp.servers import McpServerSpec

if TYPE_CHECKING:
    from agentflux.mcp._connection import Connection
    from agentflux.runtime.tracing import Tracing


class _State(enum.Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


_REOPEN_AFTER = 5.0  # seconds without opening extra sessions to a server after one failed to open


class _Sessions:
    """The sessions of one server: the live ones, and the attempts to open more."""

    __slots__ = ("failed_at", "live", "opening")

    def __init__(self) -> None:
        self.live: list[Connection] = []
        self.opening: list[asyncio.Task[Connection]] = []
        self.failed_at = float("-inf")  # when an attempt to open a session last failed (event loop time)


class ToolPool:
    """The MCP sessions of one process, up to ``spec.max_sessions`` per declared server, opened on first use.

    Contract:

    * ``start()`` is idempotent, optional and opens nothing: sessions open when
      calls need them (a subprocess each, for stdio) and are reused by later
      calls. Use ``async with ToolPool(...)`` to pair it with ``close()``.
    * Any number of calls, on any servers, may run concurrently. A call takes
      an idle session of its server. When every session is busy, the pool
      opens one more (while the server has fewer than ``max_sessions``), and
      the call goes to the least busy session meanwhile: a session carries
      any number of calls at once, and whether the server runs them
      concurrently is up to the server, so calls that keep overlapping soon
      have sessions of their own, and no call waits for a session to start
      while one is open. Calls that find none open start up to
      ``max_sessions`` at once and each waits for its own (or, with no room,
      for the oldest attempt). Opening is bounded by the spec's
      ``connect_timeout``; after an extra session failed to open, calls keep
      to the open ones for a few seconds before the pool tries again.
    * A session that breaks (the server crashed, the connection dropped, a
      call timed out) is dropped: the failing call raises a transient
      :class:`ToolError` and a later call opens a fresh session. Other calls
      in flight on the broken session fail the same way; the server's other
      sessions are untouched.
    * ``close()`` is idempotent and waits until every session is shut down
      (stdio subprocesses included). Calls still in flight fail with a
      transient ``ToolError``; calls after ``close()`` raise ``LifecycleError``.
    """

    def __init__(self, specs: Iterable[McpServerSpec]) -> None:
        self._specs: dict[str, McpServerSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ConfigError(f"MCP server {spec.name!r} is declared twice")
            self._specs[spec.name] = spec
        self._sessions: dict[str, _Sessions] = {name: _Sessions() for name in self._specs}
        self._every: set[Connection] = set()  # live and dropped, until they have shut down
        self._state = _State.NEW

    @property
    def specs(self) -> Mapping[str, McpServerSpec]:
        """The declared servers, by name."""
        return dict(self._specs)

    def session_count(self, name: str) -> int:
        """How many sessions to server ``name`` are open now."""
        return sum(conn.alive for conn in self._sessions[name].live)

    async def start(self) -> None:
        if self._state is _State.CLOSED:
            raise LifecycleError("this ToolPool is closed; create a new one")
        self._state = _State.STARTED

    async def close(self) -> None:
        self._state = _State.CLOSED
        for sessions in self._sessions.values():
            sessions.live.clear()
        closing, self._every = self._every, set()
        await asyncio.gather(*(conn.close() for conn in closing))

    async def __aenter__(self) -> ToolPool:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def handle(self, name: str, meta: Mapping[str, str] | None = None, *, tracing: Tracing | None = None) -> ToolHandle:
        """A handle on server ``name`` whose calls carry ``meta`` in their request ``_meta``.

        With ``tracing`` active, each call is a ``tools/call {tool}`` client span, and its ``_meta`` carries
        that span's ``traceparent``, so a tool server that reads it continues the trace.
        """
        if self._state is _State.CLOSED:
            raise LifecycleError("this ToolPool is closed")
        spec = self._specs.get(name)
        if spec is None:
            declared = ", ".join(sorted(self._specs)) or "none"
            raise ConfigError(f"no MCP server named {name!r}; declared servers: {declared}")
        return ToolHandle(self, spec, dict(meta or {}), tracing)

    @asynccontextmanager
    async def _session(self, spec: McpServerSpec) -> AsyncIterator[Connection]:
        """A session to ``spec``'s server for one call, counted busy until the call is over."""
        conn = await self._pick(spec)
        conn.in_flight += 1
        try:
            yield conn
        finally:
            conn.in_flight -= 1

    async def _pick(self, spec: McpServerSpec) -> Connection:
        self._check_open()
        sessions = self._sessions[spec.name]
        sessions.live = [c for c in sessions.live if c.alive]
        sessions.opening = [t for t in sessions.opening if not t.done()]
        least = min(sessions.live, key=lambda c: c.in_flight, default=None)
        if least is not None and least.in_flight == 0:
            return least
        opening = None
        backing_off = least is not None and asyncio.get_running_loop().time() < sessions.failed_at + _REOPEN_AFTER
        if len(sessions.live) + len(sessions.opening) < spec.max_sessions and not backing_off:
            opening = asyncio.create_task(self._open(spec, sessions), name=f"agentflux-mcp-open-{spec.name}")
            opening.add_done_callback(_consume_outcome)
            sessions.opening.append(opening)
        if least is not None:
            return least  # busy, but answering: better than waiting for a new session to start
        # None open yet: wait for the attempt this call started, else the oldest one.
        # Shielded: one caller giving up must not cancel an attempt others may wait for.
        return await asyncio.shield(opening or sessions.opening[0])

    async def _open(self, spec: McpServerSpec, sessions: _Sessions) -> Connection:
        from agentflux.mcp._connection import Connection

        self._check_open()
        self._every = {c for c in self._every if not c.finished}
        conn = Connection(spec)
        self._every.add(conn)
        try:
            await conn.open()  # close() meanwhile stops it, and open() fails
        except BaseException:
            sessions.failed_at = asyncio.get_running_loop().time()
            raise
        self._check_open()
        sessions.live.append(conn)
        return conn

    def _drop(self, conn: Connection) -> None:
        sessions = self._sessions[conn.spec.name]
        if conn in sessions.live:
            sessions.live.remove(conn)
        conn.stop()

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise LifecycleError("ToolPool used after close(); create a new one")


def _consume_outcome(task: asyncio.Task[Connection]) -> None:
    # Everyone waiting may have given up; the failure is reported to them, not to asyncio.
    if not task.cancelled():
        task.exception()
