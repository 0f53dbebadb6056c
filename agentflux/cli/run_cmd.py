"""``agentflux run module:app [--agent NAME]``."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Annotated

import typer

from agentflux.cli.a2a_cmds import discovery_plugins
from agentflux.cli.loading import load_object
from agentflux.cli.logs import LogFormat, configure_logging
from agentflux.mcp.app_tools import tool_pool_for
from agentflux.runtime.declarations import AgentApp
from agentflux.runtime.metrics import serve_prometheus
from agentflux.runtime.runner import AppRunner, kafka_transport


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
    log_format: LogFormat = "text",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            envvar="AGENTFLUX_METRICS_PORT",
            help="Serve Prometheus metrics at http://HOST:PORT/metrics (needs agentflux[otel])",
        ),
    ] = None,
    bootstrap: Annotated[
        str | None,
        typer.Option(
            "--bootstrap-servers", "-b", help="Kafka brokers, host:port (wins over the app's and the environment's)"
        ),
    ] = None,
) -> None:
    """Run the agents of an app until SIGTERM or Ctrl-C (then finish in-flight work and commit)."""
    configure_logging(log_level, log_format)
    if metrics_port is not None:
        server = serve_prometheus(metrics_port)
        logging.getLogger("agentflux.cli").info("metrics at http://%s:%d/metrics", *server.server_address[:2])
    app = load_object(app_ref, AgentApp)
    if bootstrap:
        app.bootstrap_servers = bootstrap
    tools = tool_pool_for(app)
    transport = kafka_transport(app, instance_id=instance_id, connect_timeout=None)  # started in an outage: wait
    runner = AppRunner(app, transport, agents=agent, tools=tools, plugins=discovery_plugins())
    running = f"running {[a.name for a in runner.agents]} (pid {os.getpid()})"
    if log_format == "json":  # every line of stderr is then one JSON object
        logging.getLogger("agentflux.cli").warning(running)
    else:
        typer.echo(f"agentflux: {running}", err=True)
    asyncio.run(runner.run_until_signalled())
