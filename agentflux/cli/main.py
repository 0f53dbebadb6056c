"""The ``agentflux`` command line.

Every error is one line on stderr, ``error: ...``, sometimes with a hint line
after it, never a traceback (``--debug``, anywhere on the command line, shows
it). Exit codes: 2 for a usage or configuration error (a missing or bad
argument, an unknown command, an invalid setting), 1 for anything else that
went wrong, 130 when interrupted.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.text import Text
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

from agentflux.cli import (
    a2a_cmds,
    demo_cmds,
    dlq_cmds,
    local_cmds,
    mcp_cmds,
    new_cmd,
    run_cmd,
    schema_cmds,
    streams_cmds,
    topic_cmds,
)
from agentflux.contract.errors import AgentfluxError, ConfigError

app = typer.Typer(
    no_args_is_help=True, help="agentflux: multi-agent systems over Apache Kafka. --debug shows tracebacks."
)
new_cmd.register(app)
local_cmds.register(app)
app.command()(run_cmd.run)
topic_cmds.register(app)
app.add_typer(dlq_cmds.dlq, name="dlq")
app.add_typer(demo_cmds.demo, name="demo")
app.add_typer(mcp_cmds.mcp, name="mcp")
app.add_typer(streams_cmds.streams, name="streams")
app.add_typer(schema_cmds.schema, name="schema")
a2a_cmds.register(app)

DEBUG_FLAG = "--debug"


def _say(line: str, hint: str | None = None) -> None:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    console.print(Text(line, style="red"))
    if hint:
        console.print(Text(hint, style="dim"))


def _usage_hint(exc: UsageError) -> str | None:
    if exc.ctx is None:
        return "try 'agentflux --help'"
    return f"try '{exc.ctx.command_path} --help'"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI on ``argv`` (default: the process's arguments) and exit with its status."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = DEBUG_FLAG in args
    args = [a for a in args if a != DEBUG_FLAG]
    try:
        # standalone_mode=False returns the exit code of typer.Exit instead of raising it.
        code = app(args=args, prog_name="agentflux", standalone_mode=False)
    except NoArgsIsHelpError as exc:  # `agentflux dlq` alone: its help, as asked
        exc.show()
        code = 0
    except UsageError as exc:
        _fail(debug, exc, f"error: {exc.format_message()}", _usage_hint(exc), 2)
    except ClickException as exc:
        _fail(debug, exc, f"error: {exc.format_message()}", None, exc.exit_code)
    except ConfigError as exc:
        _fail(debug, exc, f"error: {exc}", None, 2)
    except AgentfluxError as exc:
        _fail(debug, exc, f"error: {exc}", None, 1)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except Exception as exc:  # a bug of ours: still one line, the traceback on request
        _fail(
            debug,
            exc,
            f"error: unexpected {type(exc).__name__}: {exc}",
            f"run again with {DEBUG_FLAG} for the traceback",
            1,
        )
    sys.exit(code or 0)


def _fail(debug: bool, exc: BaseException, line: str, hint: str | None, code: int) -> None:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    _say(line, hint)
    sys.exit(code)


if __name__ == "__main__":
    main()
