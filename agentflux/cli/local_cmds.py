"""``agentflux up | down | status``: the embedded single-node Kafka broker.

``up`` prints only the bootstrap address on stdout (progress goes to stderr),
so ``export AGENTFLUX_BOOTSTRAP_SERVERS=$(agentflux up | tail -1)`` works.
Failures raise ``LocalKafkaError``; the CLI's ``main`` turns any agentflux
error into one red line on stderr and exit status 1.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from agentflux.local import KAFKA_VERSION, LocalBroker, default_data_dir, ensure_kafka_jars
from agentflux.local.jars import jars_ready

_err = Console(stderr=True, highlight=False)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Broker directory (default: $AGENTFLUX_HOME/kafka or ~/.local/share/agentflux/kafka).",
        file_okay=False,
    ),
]


def _broker(data_dir: Path | None, port: int | None = None) -> LocalBroker:
    return LocalBroker(data_dir or default_data_dir(), port=port)


def _one_line(console: Console, msg: str) -> Text:
    """``msg`` cut to fit beside a spinner, so that a long jar name does not wrap the status line."""
    text = Text(msg)
    text.truncate(max(console.width - 2, 20), overflow="ellipsis")  # 2: the spinner and a space
    return text


def fetch_kafka_jars(console: Console, prefix: str = "") -> Path:
    """The Kafka jars' directory, fetched with Maven first if needed, reported in a line or two.

    A fetch shows on a terminal as one spinner line updated in place; elsewhere
    (a CI log) as one line before it. Either way it ends with ``Kafka jars ready in …``.
    Raises ``LocalKafkaError`` like ``ensure_kafka_jars``.
    """
    if jars_ready():
        libs = ensure_kafka_jars()
        console.print(f"{prefix}Kafka jars ready in {libs}", markup=False, highlight=False, soft_wrap=True)
        return libs
    what = f"{prefix}fetching the Kafka {KAFKA_VERSION} jars from Maven Central"
    if not console.is_terminal:
        console.print(what, markup=False, highlight=False, soft_wrap=True)
    started = time.monotonic()
    with console.status(_one_line(console, what)) as spinner:
        libs = ensure_kafka_jars(progress=lambda msg: spinner.update(_one_line(console, prefix + msg)))
    took = f"{len(list(libs.glob('*.jar')))} jars fetched in {time.monotonic() - started:.0f} s"
    console.print(f"{prefix}Kafka jars ready in {libs} ({took})", markup=False, highlight=False, soft_wrap=True)
    return libs


def up(
    port: Annotated[
        int | None, typer.Option("--port", help="Client port (default: as before, or a free one).", min=1, max=65535)
    ] = None,
    data_dir: DataDirOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker to answer.")] = 60,
) -> None:
    """Start a local Kafka broker in the background and print its bootstrap address."""
    broker = _broker(data_dir, port)
    already = broker.status()
    if already.running:
        bootstrap = broker.start()
        _err.print(f"Kafka is already running (pid {already.pid}, {broker.data_dir})", soft_wrap=True)
    else:
        with _err.status(f"starting Kafka {KAFKA_VERSION}") as spinner:
            bootstrap = broker.start(progress=lambda msg: spinner.update(_one_line(_err, msg)), timeout=timeout)
        running = broker.status()
        _err.print(f"Kafka {KAFKA_VERSION} is up (pid {running.pid}, data in {broker.data_dir})", soft_wrap=True)
    typer.echo(bootstrap)


def down(data_dir: DataDirOption = None) -> None:
    """Stop the local Kafka broker cleanly; its data stays for the next 'up'."""
    broker = _broker(data_dir)
    running = broker.status()
    with _err.status("stopping Kafka"):
        stopped = broker.stop()
    typer.echo(f"stopped Kafka (pid {running.pid})" if stopped else "Kafka was not running")


def status(data_dir: DataDirOption = None) -> None:
    """Say whether the local Kafka broker runs, with its pid and address."""
    found = _broker(data_dir).status()
    if found.running:
        typer.echo(f"running  pid {found.pid}  {found.bootstrap}  since {found.started_at}  ({found.data_dir})")
    else:
        typer.echo(f"stopped  ({found.data_dir})")


def register(app: typer.Typer) -> None:
    """Add ``up``, ``down`` and ``status`` to the agentflux CLI."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
