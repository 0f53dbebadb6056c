"""The Flink engine: submit a job's SQL through PyFlink, to the local mini-cluster or a remote cluster.

PyFlink is an optional dependency (``pip install 'agentflux[flink]'``) and is
imported only here, when a Flink job is started. The Kafka SQL connector jar
is passed in ``FlinkSettings.jars``; ``agentflux.local.flink_jars`` fetches
it with Maven (the CLI does that for you).

A ``TableEnvironment`` is expensive: on the mini-cluster the first job starts
a JVM. ``FlinkEngine`` creates one lazily and reuses it for every job it
starts; jobs in one environment get distinct table names.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentflux.contract.errors import AgentfluxError, ConfigError, LifecycleError
from agentflux.streams.flink_sql import FlinkSql, Startup, WatermarkEmit, compile_job, idle_timeout_config
from agentflux.streams.provision import provision
from agentflux.streams.windows import to_ms

if TYPE_CHECKING:
    from agentflux.streams.job import StreamJob
    from agentflux.transport.settings import KafkaSettings

ENV_REMOTE = "AGENTFLUX_FLINK_REMOTE"
ENV_JARS = "AGENTFLUX_FLINK_JARS"
ENV_PARALLELISM = "AGENTFLUX_FLINK_PARALLELISM"
ENV_IDLE_TIMEOUT = "AGENTFLUX_FLINK_IDLE_TIMEOUT"
_INSTALL_HINT = "the Flink engine needs PyFlink: pip install 'agentflux[flink]'"
_TERMINAL = {"FINISHED", "CANCELED", "FAILED"}
Progress = Callable[[str], None]
#: Apache Beam, which PyFlink imports when it creates a TableEnvironment, logs this WARNING on import when the
#: optional google-cloud-storage is missing; agentflux never reads from GCS.
_BEAM_GCS_NOTE = "Failed to import GCSFileSystem"


def _not_the_beam_gcs_note(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_BEAM_GCS_NOTE)


def parse_idle_timeout(text: str | None) -> int | None:
    """An idle timeout such as ``"30s"`` in milliseconds; None (never idle) for None, ``"0"`` or a zero duration."""
    if text is None or text.strip() == "0":
        return None
    return to_ms(text, "idle timeout") or None


@dataclass(frozen=True)
class FlinkSettings:
    """How Flink runs a job. ``remote`` is ``host:port`` of a cluster's REST endpoint; None is the mini-cluster.

    ``checkpoint_interval_ms`` also paces the source's offset commits. On the
    mini-cluster, checkpoints live in memory: a restarted job resumes from
    committed offsets but with empty windows. ``config`` passes any Flink option.

    ``idle_timeout_ms``: None (the default) means a source partition never
    counts as idle, so no window is lost when the job starts behind a backlog,
    but a partition that receives nothing holds every window back. A timeout
    lets the watermark move on without a partition after that much wall time
    without records (see ``docs/streams.md``).
    """

    jars: tuple[Path, ...] = ()
    remote: str | None = None
    parallelism: int = 1
    watermark_emit: WatermarkEmit = "on-event"
    idle_timeout_ms: int | None = None
    checkpoint_interval_ms: int | None = 10_000
    startup: Startup = "group-offsets"
    group_id: str | None = None
    kafka_properties: Mapping[str, str] = field(default_factory=dict)
    config: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "jars", tuple(Path(p) for p in self.jars))

    @classmethod
    def from_env(cls, **overrides: Any) -> FlinkSettings:
        """Settings from ``AGENTFLUX_FLINK_REMOTE``, ``_JARS`` (path list), ``_PARALLELISM`` and ``_IDLE_TIMEOUT``
        (e.g. ``30s``), then ``overrides``."""
        env: dict[str, Any] = {}
        if os.environ.get(ENV_REMOTE):
            env["remote"] = os.environ[ENV_REMOTE]
        if os.environ.get(ENV_JARS):
            env["jars"] = tuple(Path(p) for p in os.environ[ENV_JARS].split(os.pathsep) if p)
        if os.environ.get(ENV_PARALLELISM):
            env["parallelism"] = int(os.environ[ENV_PARALLELISM])
        if os.environ.get(ENV_IDLE_TIMEOUT):
            env["idle_timeout_ms"] = parse_idle_timeout(os.environ[ENV_IDLE_TIMEOUT])
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)

    def flink_config(self) -> dict[str, str]:
        if not self.jars:
            raise ConfigError(
                "the Flink engine needs the Kafka SQL connector jar: run `agentflux streams jars`, "
                f"or set {ENV_JARS}, or pass FlinkSettings(jars=...)"
            )
        conf = {
            "pipeline.jars": ";".join(p.resolve().as_uri() for p in self.jars),
            "parallelism.default": str(self.parallelism),
            "table.local-time-zone": "UTC",
            "pipeline.object-reuse": "true",  # safe for SQL operators; ~1.5x the events/s on the mini-cluster
            **idle_timeout_config(self.idle_timeout_ms),
        }
        if self.checkpoint_interval_ms:
            conf["execution.checkpointing.interval"] = f"{self.checkpoint_interval_ms} ms"
        if self.remote:
            host, _, port = self.remote.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"Flink remote {self.remote!r}: expected host:port of the REST endpoint")
            conf |= {"execution.target": "remote", "rest.address": host, "rest.port": port}
        return conf | dict(self.config)


def java_message(exc: BaseException) -> str:
    """The first line of what Java said, without PyFlink's wrapping: ``"org...X: reason"`` becomes ``"reason"``."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rsplit("Exception: ", 1)[-1]


class FlinkRun:
    """One submitted Flink job."""

    def __init__(self, result: Any, sql: FlinkSql) -> None:
        self._result = result
        self.sql = sql
        client = result.get_job_client()
        if client is None:
            raise LifecycleError("Flink accepted the statements but started no job")
        self._client = client
        self.job_id = str(client.get_job_id())

    def status(self) -> str:
        return str(self._client.get_job_status().result()).rsplit(".", 1)[-1]

    def running(self) -> bool:
        return self.status() not in _TERMINAL

    def cancel(self) -> None:
        if self.running():
            self._client.cancel().result()

    def wait(self, poll: float = 1.0) -> str:
        """Block until the job ends (a streaming job only ends when cancelled or failed); its final status."""
        while (state := self.status()) not in _TERMINAL:
            time.sleep(poll)
        if state == "FAILED":
            try:
                self._result.wait()  # raises the job's failure
            except Exception as exc:
                raise AgentfluxError(f"Flink job {self.job_id} failed: {java_message(exc)}") from exc
        return state


class FlinkEngine:
    """Starts jobs on one lazily created TableEnvironment. Not thread-safe: use it from one thread."""

    _counter = itertools.count(1)

    def __init__(self, kafka: KafkaSettings | None, settings: FlinkSettings | None = None) -> None:
        self.kafka = kafka
        self.settings = settings or FlinkSettings.from_env()
        self._tenv: Any = None

    def table_environment(self) -> Any:
        if self._tenv is None:
            # PyFlink 2.3 warns about its own deprecated classes on import, and drops the Popen of the
            # gateway JVM it starts (a ResourceWarning); neither is ours to act on. Beam's note goes
            # even where no logging is configured (Python's last-resort handler prints it otherwise).
            logging.getLogger("apache_beam.io.filesystems").addFilter(_not_the_beam_gcs_note)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", ResourceWarning)
                self._tenv = self._create_table_environment()
        return self._tenv

    def _create_table_environment(self) -> Any:
        try:
            from pyflink.common import Configuration
            from pyflink.table import EnvironmentSettings, TableEnvironment
        except ImportError as exc:
            raise ConfigError(_INSTALL_HINT) from exc
        conf = Configuration()
        for key, value in self.settings.flink_config().items():
            conf.set_string(key, value)
        env = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build()
        return TableEnvironment.create(env)

    def compile(self, job: StreamJob[Any], suffix: str = "") -> FlinkSql:
        s = self.settings
        return compile_job(
            job, self.kafka, group_id=s.group_id, startup=s.startup, watermark_emit=s.watermark_emit,
            idle_timeout_ms=s.idle_timeout_ms, suffix=suffix, kafka_properties=s.kafka_properties, redact=False,
        )  # fmt: skip

    def start(self, job: StreamJob[Any], progress: Progress | None = None) -> FlinkRun:
        """Submit ``job`` and return once Flink has accepted it; the job then runs until cancelled.

        Both paths (windows and dead letters) are one statement set, hence one Flink job.
        """
        say = progress or (lambda _msg: None)
        say(
            "starting the Flink "
            + ("mini-cluster" if not self.settings.remote else f"session at {self.settings.remote}")
        )
        if self.kafka is not None:
            provision(self.kafka, job, dead_letters=True)
        tenv = self.table_environment()
        sql = self.compile(job.checked(), suffix=f"_{next(self._counter)}")
        say(f"submitting job {job.name!r}")
        try:
            for statement in sql.statements:
                tenv.execute_sql(statement)
            inserts = tenv.create_statement_set()
            for insert in sql.inserts:
                inserts.add_insert_sql(insert)
            run = FlinkRun(inserts.execute(), sql)
        except Exception as exc:
            if isinstance(exc, AgentfluxError):
                raise
            raise AgentfluxError(f"Flink did not accept job {job.name!r}: {java_message(exc)}") from exc
        say(f"job {job.name!r} submitted as Flink job {run.job_id}")
        return run
