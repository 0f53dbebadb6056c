"""Choosing and running an engine for a job, and the Flink SQL a job compiles to.

Contract every engine keeps (and ``docs/streams.md`` spells out):

* it computes exactly the windows the reference evaluation (``job.test``)
  computes for the same records in the same partition order: same keys,
  window bounds, counts, and other aggregates up to float rounding;
* it writes each result once under normal operation, and after a crash
  possibly again (at-least-once), always with the same key, value and
  ``ce_id``, so consumers can deduplicate;
* it runs until stopped; stopping (SIGINT/SIGTERM, ``stop``/``cancel``) is
  graceful, and a job may be started again: it resumes from its committed
  source offsets.

Engines are imported lazily: Quix Streams and PyFlink are optional extras.
This module and the engines import the job definition (``job``); the
definition imports no engine, so a job is started here, not by a method of it.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from agentflux.contract.errors import ConfigError
from agentflux.streams.flink_sql import compile_job
from agentflux.transport.settings import KafkaSettings

if TYPE_CHECKING:
    from agentflux.streams.flink_engine import FlinkRun
    from agentflux.streams.job import StreamJob

EngineName = Literal["embedded", "flink"]
ENGINES = ("embedded", "flink")
Progress = Callable[[str], None]


def run_job(
    job: StreamJob[Any], engine: EngineName = "embedded", kafka: KafkaSettings | None = None, *,
    progress: Progress | None = None, **options: Any,
) -> None:  # fmt: skip
    """Run ``job`` on ``engine`` until SIGINT/SIGTERM. ``options`` are the engine's settings fields."""
    job = job.checked()
    kafka = kafka or KafkaSettings.resolve()
    if engine == "embedded":
        run_embedded(job, kafka, progress=progress, **options)
    elif engine == "flink":
        run_flink(job, kafka, progress=progress, **options)
    else:
        raise ConfigError(f"unknown engine {engine!r}: expected one of {', '.join(ENGINES)}")


def run_embedded(
    job: StreamJob[Any], kafka: KafkaSettings, *, progress: Progress | None = None, **options: Any
) -> None:
    try:
        from agentflux.streams.embedded import EmbeddedEngine, EmbeddedSettings
    except ImportError as exc:
        raise ConfigError("the embedded engine needs Quix Streams: pip install 'agentflux[streams]'") from exc
    engine = EmbeddedEngine(kafka, EmbeddedSettings(**options))
    if progress is not None:
        progress(f"running {job.name!r} on the embedded engine (Quix Streams)")
    engine.run(job)


def start_flink(
    job: StreamJob[Any], kafka: KafkaSettings, *, progress: Progress | None = None, **options: Any
) -> FlinkRun:
    """Submit ``job`` to Flink (settings from the environment, then ``options``) and return its handle."""
    from agentflux.streams.flink_engine import FlinkEngine, FlinkSettings

    return FlinkEngine(kafka, FlinkSettings.from_env(**options)).start(job, progress)


def wait_flink(run: FlinkRun, *, progress: Progress | None = None) -> str:
    """Wait for a Flink job to end; SIGINT/SIGTERM cancel it first. Its final status."""

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        return run.wait()
    except KeyboardInterrupt:
        if progress is not None:
            progress(f"cancelling Flink job {run.job_id}")
        run.cancel()
        return "CANCELED"
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_flink(job: StreamJob[Any], kafka: KafkaSettings, *, progress: Progress | None = None, **options: Any) -> None:
    wait_flink(start_flink(job, kafka, progress=progress, **options), progress=progress)


def job_sql(job: StreamJob[Any], kafka: KafkaSettings | None = None, **options: Any) -> str:
    """The Flink SQL ``job`` compiles to (statements separated by ``;``), with secrets masked.

    ``options`` are ``compile_job``'s keyword arguments (``group_id``, ``idle_timeout_ms``, ...).
    """
    return compile_job(job.checked(), kafka, **options).script()
