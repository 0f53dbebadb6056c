"""``agentflux run module:app [--agent NAME]``."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from agentflux.cli.loading import load_object
from agentflux.runtime.declarations import AgentApp
from agentflux.runtime.runner import AppRunner, kafka_transport


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def run(
    app_ref: Annotated[str, typer.Argument(help="The app to run, as module:attribute")],
    agent: Annotated[list[str] | None, typer.Option("--agent", "-a", help="Run only this agent (repeatable)")] = None,
    instance_id: Annotated[
        str | None,
        typer.Option(
            help="Static group membership id: a restart with the same id resumes at once",
            envvar="AGENTFLUX_INSTANCE_ID",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(envvar="AGENTFLUX_LOG_LEVEL")] = "info",
) -> None:
    """Run the agents of an app until SIGTERM or Ctrl-C (then finish in-flight work and commit)."""
    configure_logging(log_level)
    app = load_object(app_ref, AgentApp)
    tools = _tool_pool(app)
    runner = AppRunner(app, kafka_transport(app, instance_id=instance_id), agents=agent, tools=tools)
    typer.echo(f"agentflux: running {[a.name for a in runner.agents]} (pid {os.getpid()})", err=True)
    asyncio.run(runner.run_until_signalled())


def _tool_pool(app: AgentApp) -> object | None:
    """One MCP tool pool for this process, from the app's declared servers and configuration."""
    specs = list(getattr(app, "mcp_servers", {}).values())
    try:
        from agentflux.mcp.pool import ToolPool
        from agentflux.mcp.servers import specs_from_env
    except ImportError:
        return None
    specs += [s for s in specs_from_env() if s.name not in {x.name for x in specs}]
    return ToolPool(specs) if specs else None
