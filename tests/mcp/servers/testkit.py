"""A test-only MCP server: echoes request ``_meta``, sleeps, blocks, fails and crashes on demand.

Run: ``python tests/mcp/servers/testkit.py`` (stdio) or ``... --http PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

mcp = MCPServer("testkit", log_level="WARNING")


@mcp.tool()
def echo_meta(ctx: Context) -> dict[str, Any]:
    """Return the ``_meta`` of this request as the server received it."""
    meta = ctx.request_context.meta
    return dict(meta) if meta else {}


@mcp.tool(structured_output=False)
def echo_text(text: str) -> str:
    """Return ``text`` as plain text content, with no structured content."""
    return text


@mcp.tool()
def pid() -> int:
    """The server's process id: a new one means a new session."""
    return os.getpid()


@mcp.tool()
async def sleep(seconds: float) -> str:
    """Answer after ``seconds``."""
    await asyncio.sleep(seconds)
    return "awake"


@mcp.tool()
async def block(seconds: float) -> dict[str, float]:
    """Hold the server's event loop for ``seconds``: no other request of this process runs meanwhile.

    Answers with the process id and when the wait started and ended (``time.time()``).
    """
    started = time.time()
    time.sleep(seconds)  # on purpose: one process serves one request at a time while it blocks
    return {"pid": os.getpid(), "started": started, "ended": time.time()}


@mcp.tool()
def fail(message: str) -> str:
    """Report a tool error with ``message``."""
    raise ToolError(message)


@mcp.tool()
def crash() -> str:
    """Exit the process at once, mid-call."""
    os._exit(17)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, metavar="PORT")
    args = parser.parse_args()
    if args.http is None:
        mcp.run()
    else:
        mcp.run("streamable-http", host="127.0.0.1", port=args.http)
