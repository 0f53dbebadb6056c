"""``agentflux streams run | sql | jars``: windowed stream jobs on the embedded engine or Flink.

A job is named as ``module:attribute`` (the attribute defaults to ``job``),
for example ``examples.predictive_maintenance:job``. Progress goes to stderr;
``sql`` prints only the SQL on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from agentflux.cli.loading import load_object
from agentflux.cli.logs import LogFormat, configure_logging
from agentflux.cli.options import Bootstrap
from agentflux.streams import StreamJob
from agentflux.streams.engines import ENGINES, job_sql, run_job, start_flink, wait_flink
from agentflux.streams.flink_engine import ENV_IDLE_TIMEOUT, parse_idle_timeout
from agentflux.transport.settings import KafkaSettings

streams = typer.Typer(no_args_is_help=True, help="Windowed stream jobs: one definition, embedded engine or Flink.")
_err = Console(stderr=True, highlight=False)

JobRef = Annotated[str, typer.Argument(help="The job, as module:attribute (attribute defaults to 'job')")]
IdleTimeout = Annotated[
    str | None,
    typer.Option(
        "--idle-timeout", envvar=ENV_IDLE_TIMEOUT,
        help="Flink: wall time without records (e.g. '30s') after which a source partition stops holding the "
        "watermark back. Default: never ('0'), so a job that starts behind a backlog loses no window.",
    ),
]  # fmt: skip


def _job(ref: str) -> StreamJob[Any]:
    job: StreamJob[Any] = load_object(ref if ":" in ref else f"{ref}:job", StreamJob)
    return job.checked()


def _jars() -> list[Path]:
    from agentflux.local.flink_jars import CONNECTOR_VERSION, ensure_flink_jars, flink_jars_ready

    if flink_jars_ready():
        return ensure_flink_jars()
    with _err.status(f"fetching the Flink Kafka connector {CONNECTOR_VERSION}") as spinner:
        return ensure_flink_jars(progress=lambda msg: spinner.update(msg))


@streams.command()
def run(
    job_ref: JobRef,
    engine: Annotated[str, typer.Option("--engine", "-e", help=f"One of: {', '.join(ENGINES)}")] = "embedded",
    bootstrap_servers: Bootstrap = None,
    group: Annotated[str | None, typer.Option(help="Consumer group (default agentflux.streams.<job>)")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Embedded engine: window state directory")] = None,
    remote: Annotated[
        str | None, typer.Option(envvar="AGENTFLUX_FLINK_REMOTE", help="Flink: host:port of a cluster's REST API")
    ] = None,
    parallelism: Annotated[int | None, typer.Option(help="Flink: job parallelism (default 1)")] = None,
    idle_timeout: IdleTimeout = None,
    log_level: Annotated[str, typer.Option(envvar="AGENTFLUX_LOG_LEVEL")] = "warning",
    log_format: LogFormat = "text",
) -> None:
    """Run a job until Ctrl-C or SIGTERM."""
    configure_logging(log_level, log_format)
    job = _job(job_ref)
    kafka = KafkaSettings.resolve(bootstrap_servers)
    options: dict[str, Any]
    if engine == "flink":
        options = {
            "jars": tuple(_jars()), "remote": remote, "parallelism": parallelism, "group_id": group,
            "idle_timeout_ms": parse_idle_timeout(idle_timeout),
        }  # fmt: skip
        with _err.status(f"starting {job.name!r} on Flink") as spinner:
            handle = start_flink(job, kafka, progress=lambda msg: spinner.update(msg), **options)
        _err.print(f"{job.name}: Flink job {handle.job_id} running; Ctrl-C cancels it", soft_wrap=True)
        state = wait_flink(handle, progress=lambda msg: _err.print(msg))
        _err.print(f"{job.name}: Flink job {handle.job_id} {state.lower()}")
        return
    options = {"group_id": group, "state_dir": state_dir, "log_level": log_level}
    options = {k: v for k, v in options.items() if v is not None}
    source, sink = job.source_spec, job.sink_spec
    _err.print(f"{job.name}: {source.topic} -> {sink.topic} ({job.window_spec.describe()}) on the embedded engine")
    run_job(job, "embedded", kafka, **options)


@streams.command()
def sql(job_ref: JobRef, bootstrap_servers: Bootstrap = None, idle_timeout: IdleTimeout = None) -> None:
    """Print the Flink SQL a job compiles to (secrets masked): the tables, then both INSERTs as one statement set."""
    job = _job(job_ref)
    kafka = KafkaSettings.resolve(bootstrap_servers) if bootstrap_servers else None
    typer.echo(job_sql(job, kafka, idle_timeout_ms=parse_idle_timeout(idle_timeout)), nl=False)


@streams.command()
def jars() -> None:
    """Fetch the Flink Kafka connector and avro-confluent format with Maven (once) and print the jar paths."""
    for path in _jars():
        typer.echo(str(path))
