"""The ``agentflux`` command line. Errors print one red line and exit 1."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.text import Text

from agentflux.cli import a2a_cmds, demo_cmds, dlq_cmds, local_cmds, mcp_cmds, run_cmd, streams_cmds
from agentflux.contract.errors import AgentfluxError

app = typer.Typer(no_args_is_help=True, help="agentflux: multi-agent systems over Apache Kafka.")
local_cmds.register(app)
app.command()(run_cmd.run)
app.add_typer(dlq_cmds.dlq, name="dlq")
app.add_typer(demo_cmds.demo, name="demo")
app.add_typer(mcp_cmds.mcp, name="mcp")
app.add_typer(streams_cmds.streams, name="streams")
a2a_cmds.register(app)


def main() -> None:
    try:
        # standalone_mode=False returns the exit code of typer.Exit instead of raising it.
        sys.exit(app(standalone_mode=False) or 0)
    except AgentfluxError as exc:
        Console(stderr=True, highlight=False).print(Text(f"error: {exc}", style="red"), soft_wrap=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)


if __name__ == "__main__":
    main()
