"""The tool pool of a process running an app: declared servers plus configured ones."""

from __future__ import annotations

from agentflux.mcp.pool import ToolPool
from agentflux.mcp.servers import McpServerSpec, specs_from_env
from agentflux.runtime.declarations import AgentApp


def tool_pool_for(app: AgentApp) -> ToolPool | None:
    """One pool for this process, or None when no MCP server is declared or configured.

    Servers declared in code (``app.tool_server(...)``) win over servers of the
    same name in ``AGENTFLUX_MCP_CONFIG``.
    """
    specs: dict[str, McpServerSpec] = {s.name: s for s in specs_from_env()}
    specs.update(app.tool_servers)
    return ToolPool(specs.values()) if specs else None
