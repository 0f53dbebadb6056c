"""Tool access for agents over MCP (Model Context Protocol).

Declare servers with :class:`McpServerSpec` (or a TOML file, see
:func:`load_server_specs`), open one :class:`ToolPool` per process, and call
tools through ``pool.handle(name, meta).call(tool, **arguments)``. The ``mcp``
SDK (extra ``agentflux[mcp]``) is imported when the first session opens.
"""

from agentflux.mcp.handle import ToolHandle, ToolInfo
from agentflux.mcp.pool import ToolPool
from agentflux.mcp.servers import CONFIG_ENV_VAR, McpServerSpec, load_server_specs, specs_from_env

__all__ = [
    "CONFIG_ENV_VAR",
    "McpServerSpec",
    "ToolHandle",
    "ToolInfo",
    "ToolPool",
    "load_server_specs",
    "specs_from_env",
]
