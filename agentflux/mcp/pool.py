"""A per-process pool of MCP sessions, one per declared server, opened on first use."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING

from agentflux.contract.errors import ConfigError, LifecycleError
from agentflux.mcp.handle import ToolHandle
from agentflux.mcp.servers import McpServerSpec

if TYPE_CHECKING:
    from agentflux.mcp._connection import Connection


class _State(enum.Enum):
    NEW = "new"
    STARTED = "started"
    CLOSED = "closed"


class ToolPool:
    """The MCP sessions of one process, one per declared server, opened on first use.

    Contract:

    * ``start()`` is idempotent, optional and opens nothing: the first call to
      a server opens its session (a subprocess for stdio), which later calls
      reuse. Use ``async with ToolPool(...)`` to pair it with ``close()``.
    * Any number of calls, on any servers, may run concurrently. Calls to one
      server share its session. Calls that find no session share one attempt
      to open it, bounded by the spec's ``connect_timeout``, and its outcome.
    * A session that breaks (the server crashed, the connection dropped, a
      call timed out) is dropped: the failing call raises a transient
      :class:`ToolError` and the next call opens a fresh session. Other calls
      in flight on the broken session fail the same way.
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
        self._live: dict[str, Connection] = {}
        self._opening: dict[str, asyncio.Task[Connection]] = {}
        self._every: set[Connection] = set()  # live and dropped, until they have shut down
        self._state = _State.NEW

    @property
    def specs(self) -> Mapping[str, McpServerSpec]:
        """The declared servers, by name."""
        return dict(self._specs)

    async def start(self) -> None:
        if self._state is _State.CLOSED:
            raise LifecycleError("this ToolPool is closed; create a new one")
        self._state = _State.STARTED

    async def close(self) -> None:
        self._state = _State.CLOSED
        self._live.clear()
        closing, self._every = self._every, set()
        await asyncio.gather(*(conn.close() for conn in closing))

    async def __aenter__(self) -> ToolPool:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def handle(self, name: str, meta: Mapping[str, str] | None = None) -> ToolHandle:
        """A handle on server ``name`` whose calls carry ``meta`` in their request ``_meta``."""
        if self._state is _State.CLOSED:
            raise LifecycleError("this ToolPool is closed")
        spec = self._specs.get(name)
        if spec is None:
            declared = ", ".join(sorted(self._specs)) or "none"
            raise ConfigError(f"no MCP server named {name!r}; declared servers: {declared}")
        return ToolHandle(self, spec, dict(meta or {}))

    async def _connection(self, spec: McpServerSpec) -> Connection:
        """The live session to ``spec``'s server, opening one if there is none."""
        self._check_open()
        conn = self._live.get(spec.name)
        if conn is not None and conn.alive:
            return conn
        opening = self._opening.get(spec.name)
        if opening is None or opening.done():
            opening = asyncio.create_task(self._open(spec), name=f"agentflux-mcp-open-{spec.name}")
            opening.add_done_callback(_consume_outcome)
            self._opening[spec.name] = opening
        # Shielded: one caller giving up must not cancel the attempt the others wait for.
        return await asyncio.shield(opening)

    async def _open(self, spec: McpServerSpec) -> Connection:
        from agentflux.mcp._connection import Connection

        self._check_open()
        self._every = {c for c in self._every if not c.finished}
        conn = Connection(spec)
        self._every.add(conn)
        await conn.open()  # close() meanwhile stops it, and open() fails
        self._check_open()
        self._live[spec.name] = conn
        return conn

    def _drop(self, conn: Connection) -> None:
        if self._live.get(conn.spec.name) is conn:
            del self._live[conn.spec.name]
        conn.stop()

    def _check_open(self) -> None:
        if self._state is _State.CLOSED:
            raise LifecycleError("ToolPool used after close(); create a new one")


def _consume_outcome(task: asyncio.Task[Connection]) -> None:
    # Everyone waiting may have given up; the failure is reported to them, not to asyncio.
    if not task.cancelled():
        task.exception()
