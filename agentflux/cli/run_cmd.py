"""``agentflux run module:app [--agent NAME]``."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from agentflux.cli.a2a_cmds import discovery_plugins
from agentflux.cli.loading import load_object
from agentflux.mcp.app_tools import tool_pool_for
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
    tools = tool_pool_for(app)
    transport = kafka_transport(app, instance_id=instance_id, connect_timeout=None)  # started in an outage: wait
    runner = AppRunner(app, transport, agents=agent, tools=tools, plugins=discovery_plugins())
    typer.echo(f"agentflux: running {[a.name for a in runner.agents]} (pid {os.getpid()})", err=True)
    asyncio.run(runner.run_until_signalled())
