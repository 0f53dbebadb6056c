"""The agent mesh as an MCP server: ``agentflux mcp serve [--http PORT]``.

An MCP-capable assistant can list the agents and their cards, publish events,
delegate tasks, look tasks up, follow a correlation id through the log, and
inspect and redrive dead letters. Failures come back as MCP tool errors with
the reason (``isError``), never as protocol errors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError as McpToolError

from agentflux.contract.errors import AgentfluxError
from agentflux.mcp.mesh_service import MeshService

T = TypeVar("T")


async def _tool(call: Awaitable[T]) -> T:
    try:
        return await call
    except AgentfluxError as exc:
        raise McpToolError(f"{type(exc).__name__}: {exc}") from exc


def build_mesh_server(service: MeshService) -> MCPServer:
    """An MCP server whose tools act on ``service``; it is started and closed with the server."""

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[None]:
        await service.start()
        try:
            yield None
        finally:
            await service.close()

    mcp = MCPServer("agentflux-mesh", log_level="WARNING", lifespan=lifespan)

    @mcp.tool()
    async def list_agents(include_expired: bool = False) -> list[dict[str, Any]]:
        """The live agents of the mesh, each with its A2A Agent Card (skills, interfaces) from agent.cards.v1."""
        return await _tool(service.list_agents(include_expired))

    @mcp.tool()
    async def publish_event(
        topic: str, payload: Any, key: str | None = None, correlation_id: str | None = None
    ) -> dict[str, Any]:
        """Publish a JSON payload to an event topic ({domain}.{event-type}.v{N}); returns where it landed."""
        return await _tool(service.publish_event(topic, payload, key, correlation_id))

    @mcp.tool()
    async def delegate_task(skill: str, input: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        """Run a skill on whichever agent offers it and wait (up to timeout seconds) for the result."""
        return await _tool(service.delegate_task(skill, input, timeout))

    @mcp.tool()
    async def get_task(task_id: str) -> dict[str, Any]:
        """The latest state of a task (submitted, working, completed, failed, canceled, rejected)."""
        return await _tool(service.get_task(task_id))

    @mcp.tool()
    async def find_by_correlation(correlation_id: str) -> list[dict[str, Any]]:
        """Every message that carries the correlation id, in causal order, across the agent topics."""
        return await _tool(service.find_by_correlation(correlation_id))

    @mcp.tool()
    async def list_dead_letters(limit: int = 50) -> list[dict[str, Any]]:
        """Records that failed, newest last: where they came from, which group failed, why, after how many tries."""
        return await _tool(service.list_dead_letters(limit))

    @mcp.tool()
    async def redrive_dead_letter(letter_id: str) -> dict[str, Any]:
        """Re-publish a dead letter (id partition:offset) unchanged to the topic it came from."""
        return await _tool(service.redrive_dead_letter(letter_id))

    return mcp
