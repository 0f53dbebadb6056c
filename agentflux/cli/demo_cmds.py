"""``agentflux demo NAME``: run an example system end to end on the embedded Kafka (and schema registry).

The demos live in ``examples/`` beside the package, so this command runs from a
checkout of the repository. It starts the embedded broker if none is
configured and stops it again afterwards unless ``--keep-kafka`` is given. The
pricing and maintenance demos write Avro, so with the embedded broker it starts
the embedded schema registry too (as ``agentflux up`` does, and stops it with
the broker); with ``AGENTFLUX_BOOTSTRAP_SERVERS`` set, the registry is
``AGENTFLUX_SCHEMA_REGISTRY_URL`` (or the embedded one, if that is the embedded
broker's address). Each demo hands the registry's URL to every process it starts.

A demo's topics are its own, never a user's, but its dead letters land in
the one ``agent.dead-letter.v1`` that ``agentflux dlq list`` reads: under its
summary each demo says how many it left there, and why. The summary comes
last: every client and agent of the run, then the broker, are stopped first,
so no client can log about a broker that has gone.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agentflux.cli.loading import load_object
from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import DEAD_LETTER_TOPIC

demo = typer.Typer(no_args_is_help=True, help="Run an example system end to end.")
_console = Console()
#: The figure every demo reports its dead letters in (``examples.demo_support.DEAD_LETTERS``).
DEAD_LETTERS = f"dead letters left on {DEAD_LETTER_TOPIC}"


def _services(keep: bool, registry: bool) -> tuple[str, str | None, list[Any]]:
    """The bootstrap address, the registry URL (None: the demo resolves it) and what to stop afterwards."""
    configured = os.environ.get("AGENTFLUX_BOOTSTRAP_SERVERS")
    if configured:
        return configured, None, []
    from agentflux.cli.local_cmds import _start_both
    from agentflux.local import LocalBroker, LocalRegistry, default_data_dir, default_registry_dir

    broker = LocalBroker(default_data_dir())
    schemas = LocalRegistry(default_registry_dir()) if registry else None
    running = [s for s in (broker, schemas) if s is not None and s.status().running]
    what = "the embedded Kafka" + (" and schema registry" if schemas is not None else "")
    with _console.status(f"starting {what}") as spinner:
        bootstrap, url = _start_both(broker, schemas, lambda msg: spinner.update(msg), timeout=120)
    _console.print(f"[green]Kafka[/] at {bootstrap}" + (f", [green]schema registry[/] at {url}" if url else ""))
    stop = [] if keep else [s for s in (broker, schemas) if s is not None and s not in running]
    return bootstrap, url, stop


def _summary(title: str, figures: dict[str, object]) -> None:
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.1f}" if isinstance(value, float) else str(value))
    _console.print(table)


def _dead_letter_note(count: object, why: str) -> str:
    """The line under a summary that says what the run left in the shared dead-letter topic."""
    if not count:
        return f"This run left no dead letters on {DEAD_LETTER_TOPIC}."
    return (
        f"This run left {count} dead letter(s) on {DEAD_LETTER_TOPIC}, {why}. "
        "`agentflux dlq list` shows them beside any of your own agents', each with its source topic."
    )


def _from_examples(ref: str) -> Any:
    """An object of ``examples/``, which lives beside the package in a checkout, not in an install."""
    try:
        return load_object(ref)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; run the demos from a checkout of the agentflux repository") from exc


def _run_checked(
    title: str, run_demo: Any, options: object, keep_kafka: bool, *, verdict: str, dead_letters: tuple[str, str],
    registry: bool = False,
) -> None:  # fmt: skip
    """Run a demo on the embedded (or configured) Kafka, print its summary, fail unless ``verdict`` holds.

    ``dead_letters`` is the figure that counts the run's dead letters and why it left them. With
    ``registry`` the demo needs a schema registry, and is given its URL (``schema_registry_url``).
    """
    bootstrap, url, started = _services(keep_kafka, registry)
    try:
        given = {"schema_registry_url": url} if registry else {}
        figures = asyncio.run(run_demo(bootstrap, _console, options, **given))
    finally:
        if started:
            with _console.status("stopping the embedded services"):
                for service in started:
                    service.stop()
    _summary(title, figures)
    figure, why = dead_letters
    if figure in figures:
        _console.print(_dead_letter_note(figures[figure], why))
    if str(figures[verdict]).startswith("NO"):
        raise ConfigError(f"the run did not end {verdict}: {figures[verdict]}")


@demo.command()
def quickstart(
    orders: Annotated[int, typer.Option(help="How many orders to place")] = 40,
    keep_kafka: Annotated[bool, typer.Option(help="Leave the embedded Kafka running afterwards")] = False,
) -> None:
    """Two agents (intake, shipping) handle orders on quickstart.* topics; invalid ones are dead-lettered."""
    run_demo = _from_examples("examples.quickstart.demo:run_demo")
    _run_checked(
        "quickstart",
        run_demo,
        orders,
        keep_kafka,
        verdict="every order shipped or rejected",
        dead_letters=(DEAD_LETTERS, "one per invalid order, on purpose (one order in ten is invalid)"),
    )


@demo.command()
def pricing(
    changes: Annotated[int, typer.Option(help="How many competitor price changes to play")] = 20,
    forever: Annotated[bool, typer.Option(help="Keep changing prices until Ctrl-C")] = False,
    kill_analysis: Annotated[
        bool, typer.Option(help="SIGKILL the analysis agent mid-run and restart it (see docs/pricing-walkthrough.md)")
    ] = False,
    restart_after: Annotated[float, typer.Option(help="Seconds the killed analysis agent stays down")] = 5.0,
    interval: Annotated[float, typer.Option(help="Seconds between two competitor price changes")] = 0.75,
    poll: Annotated[float, typer.Option(help="Seconds between two looks of the collector at the pages")] = 0.25,
    seed: Annotated[int, typer.Option(help="Seed of the scripted competitor price feed")] = 7,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite databases go (default: a temp dir)")] = None,
    namespace: Annotated[
        str | None,
        typer.Option(help="Suffix of this run's topics, groups and skill; default: a fresh one per run ('' = none)"),
    ] = None,
    keep_kafka: Annotated[
        bool, typer.Option(help="Leave the embedded Kafka and schema registry running afterwards")
    ] = False,
) -> None:
    """Four agents reprice products as a competitor changes prices (MCP tools, A2A delegation)."""
    run_demo = _from_examples("examples.ecommerce_pricing.demo:run_demo")
    options = _from_examples("examples.ecommerce_pricing.demo:DemoOptions")(
        changes=changes,
        forever=forever,
        kill_analysis=kill_analysis,
        restart_after=restart_after,
        interval=interval,
        poll_seconds=poll,
        seed=seed,
        data_dir=data_dir,
        namespace=namespace,
    )
    _run_checked(
        "pricing",
        run_demo,
        options,
        keep_kafka,
        verdict="as the rules predict",
        dead_letters=(DEAD_LETTERS, "which the demo does not expect: see `agentflux dlq show`"),
        registry=True,
    )


@demo.command()
def maintenance(
    engine: Annotated[str, typer.Option(help="Where the window job runs: embedded or flink")] = "embedded",
    machines: Annotated[int, typer.Option(help="How many machines the simulator runs")] = 20,
    anomalies: Annotated[str, typer.Option(help="Machines with an injected anomaly, comma-separated")] = "m-003,m-011",
    rate: Annotated[float, typer.Option(help="Sensor readings per second (wall time)")] = 2000.0,
    speedup: Annotated[float, typer.Option(help="Event-time seconds per wall-clock second")] = 60.0,
    duration: Annotated[float, typer.Option(help="Seconds of wall time the simulator runs")] = 30.0,
    bad_readings: Annotated[
        int, typer.Option(help="Readings that fail their model, sent halfway (embedded engine only)")
    ] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the simulated readings")] = 7,
    data_dir: Annotated[Path | None, typer.Option(help="Where the SQLite database goes (default: a temp dir)")] = None,
    keep_kafka: Annotated[
        bool, typer.Option(help="Leave the embedded Kafka and schema registry running afterwards")
    ] = False,
) -> None:
    """Sensor readings -> a window job (embedded or Flink) -> Diagnostics and Scheduling agents (MCP, A2A)."""
    if engine not in ("embedded", "flink"):
        raise ConfigError(f"--engine must be embedded or flink, got {engine!r}")
    run_demo = _from_examples("examples.predictive_maintenance.demo:run_demo")
    options = _from_examples("examples.predictive_maintenance.demo:DemoOptions")(
        engine=engine,
        machines=machines,
        anomalies=tuple(a for a in anomalies.split(",") if a),
        rate=rate,
        speedup=speedup,
        duration=duration,
        bad_readings=bad_readings,
        seed=seed,
        data_dir=data_dir,
    )
    _run_checked(
        f"maintenance ({engine} engine)",
        run_demo,
        options,
        keep_kafka,
        verdict="as injected",
        dead_letters=("  bad readings dead-lettered", "one per bad reading sent halfway, on purpose"),
        registry=True,
    )
