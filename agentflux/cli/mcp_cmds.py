"""``agentflux mcp serve [--http PORT] [--app module:app]``: the mesh as an MCP server."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

from agentflux.cli.loading import load_object
from agentflux.cli.logs import LogFormat
from agentflux.cli.options import Bootstrap
from agentflux.runtime.declarations import AgentApp

mcp = typer.Typer(no_args_is_help=True, help="The agent mesh as an MCP server.")


@mcp.command()
def serve(
    http: Annotated[
        int | None, typer.Option(help="Serve streamable HTTP on 127.0.0.1:PORT (default: stdio)", min=1, max=65535)
    ] = None,
    app_ref: Annotated[
        str | None, typer.Option("--app", help="module:app, to validate inputs and type results of its skills")
    ] = None,
    bootstrap: Bootstrap = None,
    log_level: Annotated[str, typer.Option(envvar="AGENTFLUX_LOG_LEVEL", help="Log level (to stderr)")] = "warning",
    log_format: LogFormat = "text",
) -> None:
    """Serve list_agents, publish_event, delegate_task, get_task, find_by_correlation and the dead letters."""
    from agentflux.cli.logs import configure_logging, serve_asgi

    configure_logging(log_level, log_format)
    from agentflux.client import AgentClient
    from agentflux.mcp.mesh import build_mesh_server
    from agentflux.mcp.mesh_service import MeshService
    from agentflux.transport.kafka import KafkaTransport

    app = load_object(app_ref, AgentApp) if app_ref else None
    servers = bootstrap or (app.bootstrap_servers if app else None)
    # connect_timeout=None: a server started in an outage waits for the cluster
    client = AgentClient(app=app, name="mcp", transport=KafkaTransport.resolve(servers, connect_timeout=None))
    server = build_mesh_server(MeshService(KafkaTransport.resolve(servers, connect_timeout=None), client, app))
    if http is None:
        server.run()
    else:
        typer.echo(f"agentflux mesh MCP server on http://127.0.0.1:{http}/mcp (pid {os.getpid()})", err=True)
        asgi = server.streamable_http_app(host="127.0.0.1")
        asyncio.run(serve_asgi(asgi, host="127.0.0.1", port=http, log_level=log_level))
