"""``agentflux up | down | status``: the embedded single-node Kafka broker and schema registry.

``up`` starts both (``--no-registry``: Kafka alone) and prints only the
bootstrap address on stdout; progress and the registry's URL go to stderr, so
``export AGENTFLUX_BOOTSTRAP_SERVERS=$(agentflux up | tail -1)`` works. The
registry keeps its data beside the broker's: ``$AGENTFLUX_HOME/registry`` (or
``~/.local/share/agentflux/registry``), or ``DIR/registry`` with ``--data-dir DIR``.
Failures raise ``LocalKafkaError`` (``LocalRegistryError`` for the registry);
the CLI's ``main`` turns any agentflux error into one red line on stderr and exit status 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from agentflux.local import (
    APICURIO_VERSION,
    KAFKA_VERSION,
    LocalBroker,
    LocalRegistry,
    LocalRegistryError,
    default_data_dir,
    default_registry_dir,
    ensure_kafka_jars,
    ensure_registry_app,
    find_registry_java,
)
from agentflux.local.jars import jars_ready
from agentflux.local.maven import Progress
from agentflux.local.registry_app import registry_app_ready

_err = Console(stderr=True, highlight=False)
_REGISTRY = f"Apicurio Registry {APICURIO_VERSION}"

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Broker directory (default: $AGENTFLUX_HOME/kafka or ~/.local/share/agentflux/kafka); "
        "the schema registry keeps its data in DIR/registry (by default in 'registry' beside the broker's).",
        file_okay=False,
    ),
]


def _broker(data_dir: Path | None, port: int | None = None) -> LocalBroker:
    return LocalBroker(data_dir or default_data_dir(), port=port)


def _registry(data_dir: Path | None, port: int | None = None) -> LocalRegistry:
    return LocalRegistry(data_dir / "registry" if data_dir else default_registry_dir(), port=port)


def _one_line(console: Console, msg: str) -> Text:
    """``msg`` cut to fit beside a spinner, so that a long jar name does not wrap the status line."""
    text = Text(msg)
    text.truncate(max(console.width - 2, 20), overflow="ellipsis")  # 2: the spinner and a space
    return text


def _say(console: Console, line: str) -> None:
    console.print(line, markup=False, highlight=False, soft_wrap=True)


def _fetch_in_one_line(console: Console, what: str, fetch: Callable[[Progress], Path]) -> tuple[Path, float]:
    """Run ``fetch`` behind one spinner line that its progress updates in place; (its result, seconds taken).

    Off a terminal (a CI log) the spinner shows nothing, so ``what`` is printed once before.
    """
    if not console.is_terminal:
        _say(console, what)
    started = time.monotonic()
    with console.status(_one_line(console, what)) as spinner:
        found = fetch(lambda msg: spinner.update(_one_line(console, msg)))
    return found, time.monotonic() - started


def fetch_kafka_jars(console: Console, prefix: str = "") -> Path:
    """The Kafka jars' directory, fetched with Maven first if needed, reported in a line or two.

    A fetch shows on a terminal as one spinner line updated in place; elsewhere
    (a CI log) as one line before it. Either way it ends with ``Kafka jars ready in …``.
    Raises ``LocalKafkaError`` like ``ensure_kafka_jars``.
    """
    if jars_ready():
        libs = ensure_kafka_jars()
        _say(console, f"{prefix}Kafka jars ready in {libs}")
        return libs
    what = f"{prefix}fetching the Kafka {KAFKA_VERSION} jars from Maven Central"
    libs, took = _fetch_in_one_line(console, what, lambda say: ensure_kafka_jars(lambda msg: say(prefix + msg)))
    count = len(list(libs.glob("*.jar")))
    _say(console, f"{prefix}Kafka jars ready in {libs} ({count} jars fetched in {took:.0f} s)")
    return libs


def fetch_registry_app(console: Console, prefix: str = "") -> Path:
    """The schema registry's application directory, fetched and unpacked first if needed, like ``fetch_kafka_jars``.

    It ends with ``Apicurio Registry 3.3.3 ready in …``. Raises ``LocalRegistryError``/``LocalKafkaError``.
    """
    if registry_app_ready():
        app = ensure_registry_app()
        _say(console, f"{prefix}{_REGISTRY} ready in {app}")
        return app
    what = f"{prefix}fetching {_REGISTRY} (the schema registry) from Maven Central"
    app, took = _fetch_in_one_line(console, what, lambda say: ensure_registry_app(lambda msg: say(prefix + msg)))
    _say(console, f"{prefix}{_REGISTRY} ready in {app} (fetched and unpacked in {took:.0f} s)")
    return app


def fetch_for_setup(console: Console, warnings: Console) -> None:
    """What ``scripts/setup`` fetches: the Kafka jars, then the schema registry, one line or two each.

    No Java 21+ for the registry is one warning line on ``warnings``, not a failure:
    Kafka and everything else work without it. A failed fetch raises ``LocalKafkaError``.
    """
    fetch_kafka_jars(console, prefix="setup: ")
    fetch_registry_app(console, prefix="setup: ")
    try:
        find_registry_java()
    except LocalRegistryError as exc:
        _say(warnings, f"setup: warning: {exc}")


def up(
    port: Annotated[
        int | None, typer.Option("--port", help="Client port (default: as before, or a free one).", min=1, max=65535)
    ] = None,
    registry_port: Annotated[
        int | None,
        typer.Option(
            "--registry-port", help="Schema registry port (default: as before, or a free one).", min=1, max=65535
        ),
    ] = None,
    no_registry: Annotated[
        bool, typer.Option("--no-registry", help="Start Kafka alone, without the registry.")
    ] = False,
    data_dir: DataDirOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the broker (and the registry) to answer.")] = 60,
) -> None:
    """Start a local Kafka broker and schema registry in the background; print the bootstrap address."""
    broker = _broker(data_dir, port)
    registry = None if no_registry else _registry(data_dir, registry_port)
    kafka_before = broker.status().running
    registry_before = registry is not None and registry.status().running
    what = f"starting Kafka {KAFKA_VERSION}" + ("" if registry is None else f" and {_REGISTRY}")
    with _err.status(what) as spinner:

        def progress(msg: str) -> None:
            spinner.update(_one_line(_err, msg))

        bootstrap, url = _start_both(broker, registry, progress, timeout)
    _report(broker, kafka_before, f"Kafka {KAFKA_VERSION}", "Kafka")
    if registry is not None:
        _report(registry, registry_before, f"{_REGISTRY} (schema registry)", "the schema registry", f" at {url}")
    typer.echo(bootstrap)


def _start_both(
    broker: LocalBroker, registry: LocalRegistry | None, progress: Progress, timeout: float
) -> tuple[str, str | None]:
    """Launch the registry, start Kafka, then wait for the registry: their JVMs start side by side.

    All or nothing: on a failure (or Ctrl-C), what this call started is stopped again.
    """
    kafka_before = broker.status().running
    registry_before = registry is not None and registry.status().running
    kafka_started = False
    try:
        if registry is not None:
            registry.launch(progress)
        bootstrap = broker.start(progress=progress, timeout=timeout)
        kafka_started = not kafka_before
        if registry is None:
            return bootstrap, None
        progress(f"waiting for {_REGISTRY} to answer")
        return bootstrap, registry.wait_ready(timeout)
    except BaseException:
        if registry is not None and not registry_before:
            registry.stop()
        if kafka_started:
            broker.stop()
        raise


def _report(service: LocalBroker | LocalRegistry, already: bool, name: str, short: str, where: str = "") -> None:
    """``NAME is up[ at URL] (pid N, data in DIR)``, or ``SHORT is already running[ at URL] (pid N, DIR)``."""
    pid = service.status().pid
    if already:
        _say(_err, f"{short} is already running{where} (pid {pid}, {service.data_dir})")
    else:
        _say(_err, f"{name} is up{where} (pid {pid}, data in {service.data_dir})")


def down(data_dir: DataDirOption = None) -> None:
    """Stop the local Kafka broker and schema registry cleanly; their data stays for the next 'up'."""
    broker, registry = _broker(data_dir), _registry(data_dir)
    kafka, schemas = broker.status(), registry.status()
    with _err.status("stopping Kafka and the schema registry"):
        kafka_stopped = broker.stop()
        registry_stopped = registry.stop()
    typer.echo(f"stopped Kafka (pid {kafka.pid})" if kafka_stopped else "Kafka was not running")
    typer.echo(
        f"stopped the schema registry (pid {schemas.pid})"
        if registry_stopped
        else "the schema registry was not running"
    )


def status(data_dir: DataDirOption = None) -> None:
    """Say whether the local Kafka broker and schema registry run, with their pids and addresses."""
    kafka, schemas = _broker(data_dir).status(), _registry(data_dir).status()
    for label, found, address in (("Kafka", kafka, kafka.bootstrap), ("registry", schemas, schemas.url)):
        if found.running:
            typer.echo(f"{label:<9} running  pid {found.pid}  {address}  since {found.started_at}  ({found.data_dir})")
        else:
            typer.echo(f"{label:<9} stopped  ({found.data_dir})")


def register(app: typer.Typer) -> None:
    """Add ``up``, ``down`` and ``status`` to the agentflux CLI."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
