"""``StreamJob``: one windowed job definition, run by either engine.

Each builder method returns a new job; nothing connects or runs until
``run()`` (or ``agentflux streams run``)::

    job = (
        StreamJob("vibration-anomalies")
        .source("manufacturing.sensor-reading.v1", SensorReading, key="machine_id", time="timestamp")
        .window(hopping("10m", "1m", grace="30s"))
        .aggregate(avg_vibration=avg("vibration"), readings=count())
        .filter(col("avg_vibration") > 7.0)
        .sink(task_requests_topic("diagnose-machine"), VibrationAnomaly)
    )
    job.test(readings)                 # in memory, no broker
    print(job.sql(kafka))               # the Flink SQL
    job.run(engine="embedded")          # or engine="flink"

A result row has the key field, ``window_start`` and ``window_end`` (epoch
milliseconds) and one column per aggregate; the output model takes the
columns it declares (see ``results``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import validate_topic
from agentflux.streams import schema
from agentflux.streams.aggregates import Aggregate
from agentflux.streams.filters import Filter
from agentflux.streams.results import WINDOW_END, WINDOW_START
from agentflux.streams.windows import Window

if TYPE_CHECKING:
    from agentflux.streams.reference import Evaluation
    from agentflux.transport.settings import KafkaSettings

Out = TypeVar("Out", bound=BaseModel)
EngineName = Literal["embedded", "flink"]
_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_RESERVED = {WINDOW_START, WINDOW_END, "start", "end"}


@dataclass(frozen=True)
class Source:
    topic: str
    model: type[BaseModel]
    key: str
    time: str
    key_kind: schema.KeyKind
    time_kind: schema.TimeKind
    rekey: bool = False


@dataclass(frozen=True)
class Sink:
    topic: str
    model: type[BaseModel]


@dataclass(frozen=True)
class StreamJob(Generic[Out]):
    """A windowed aggregation from a source topic to a sink topic. Immutable; build it step by step."""

    name: str
    source_: Source | None = None
    window_: Window | None = None
    aggregates: tuple[tuple[str, Aggregate], ...] = ()
    filter_: Filter | None = None
    sink_: Sink | None = field(default=None)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"job name {self.name!r}: use lowercase words joined by hyphens, e.g. vibration-anomalies"
            )

    def source(self, topic: str, model: type[BaseModel], *, key: str, time: str, rekey: bool = False) -> StreamJob[Out]:
        """Read ``model`` records from ``topic``, grouped by field ``key``, in event time from field ``time``.

        The topic should be keyed by the key field (the topic contract keys by
        entity). ``rekey=True`` lets the embedded engine regroup a topic that is
        not, through a repartition topic; otherwise a record whose Kafka key
        differs from its key field goes to the dead-letter topic.
        """
        validate_topic(topic)
        src = Source(topic, model, key, time, schema.key_kind(model, key), schema.time_kind(model, time), rekey=rekey)
        return replace(self, source_=src)

    def window(self, window: Window) -> StreamJob[Out]:
        return replace(self, window_=window)

    def aggregate(self, **aggregates: Aggregate) -> StreamJob[Out]:
        """Named aggregates, e.g. ``avg_vibration=avg("vibration")``; names become result columns."""
        for name, agg in aggregates.items():
            if not isinstance(agg, Aggregate):
                raise ConfigError(f"aggregate {name!r}: expected avg(), min_(), max_(), sum_() or count(), got {agg!r}")
            if name in _RESERVED:
                raise ConfigError(f"aggregate name {name!r} is reserved for the window bounds")
        return replace(self, aggregates=self.aggregates + tuple(aggregates.items()))

    def filter(self, condition: Filter) -> StreamJob[Out]:
        """Keep only window results for which ``condition`` holds; a second filter is ANDed."""
        if not isinstance(condition, Filter):
            raise ConfigError(f"filter: expected an expression such as col('avg_x') > 7.0, got {condition!r}")
        return replace(self, filter_=condition if self.filter_ is None else self.filter_ & condition)

    def sink(self, topic: str, model: type[Out]) -> StreamJob[Out]:
        """Write results as ``model`` to ``topic``: an event topic or ``agent.task-requests.{skill}``."""
        validate_topic(topic)
        return replace(self, sink_=Sink(topic, model))

    # -- checked views ------------------------------------------------------

    def checked(self) -> StreamJob[Out]:
        """This job, once it is complete and consistent; a ConfigError naming what is missing otherwise."""
        parts = (
            ("source", self.source_),
            ("window", self.window_),
            ("aggregate", self.aggregates),
            ("sink", self.sink_),
        )
        missing = [what for what, value in parts if not value]
        if missing:
            raise ConfigError(f"job {self.name!r} has no {', '.join(missing)}")
        src = self.src
        if src.key in dict(self.aggregates):
            raise ConfigError(f"aggregate name {src.key!r} is the key field's name")
        for _, agg in self.aggregates:
            if agg.field is not None:
                schema.check_numeric(src.model, agg.field)
        if self.filter_ is not None:
            unknown = self.filter_.columns() - {src.key, *dict(self.aggregates)}
            if unknown:
                raise ConfigError(f"filter names {sorted(unknown)}, which are not aggregates of job {self.name!r}")
        schema.output_fields(self.snk.model, self.columns)
        return self

    @property
    def src(self) -> Source:
        if self.source_ is None:
            raise ConfigError(f"job {self.name!r} has no source")
        return self.source_

    @property
    def win(self) -> Window:
        if self.window_ is None:
            raise ConfigError(f"job {self.name!r} has no window")
        return self.window_

    @property
    def snk(self) -> Sink:
        if self.sink_ is None:
            raise ConfigError(f"job {self.name!r} has no sink")
        return self.sink_

    @property
    def columns(self) -> list[str]:
        """Every column of a result row, in order."""
        return [self.src.key, WINDOW_START, WINDOW_END, *(name for name, _ in self.aggregates)]

    @property
    def output_fields(self) -> list[str]:
        """The columns written to the sink: those the output model declares."""
        return schema.output_fields(self.snk.model, self.columns)

    @property
    def aggregated_fields(self) -> list[str]:
        return list(dict.fromkeys(agg.field for _, agg in self.aggregates if agg.field is not None))

    def keeps(self, row: Mapping[str, Any]) -> bool:
        return self.filter_ is None or self.filter_.evaluate(row)

    # -- running ---------------------------------------------------------------

    def evaluate(
        self, records: Iterable[BaseModel | Mapping[str, Any]], *, flush: bool = False,
        partition: Callable[[Any], int] | None = None,
    ) -> Evaluation:  # fmt: skip
        """Run the job over ``records`` in memory, in list order, with full detail (late records, dead letters).

        ``partition`` maps a record to its source partition; by default all are in one.
        """
        from agentflux.streams.reference import evaluate

        return evaluate(self.checked(), records, flush=flush, partition=partition)

    def test(
        self, records: Iterable[BaseModel | Mapping[str, Any]], *, flush: bool = False,
        partition: Callable[[Any], int] | None = None,
    ) -> list[Out]:  # fmt: skip
        """The output records the job emits for ``records``, with no broker.

        ``flush=True`` also closes the windows still open at the end, as if
        event time had moved on past them all.
        """
        return self.evaluate(records, flush=flush, partition=partition).outputs  # type: ignore[return-value]

    def sql(self, kafka: KafkaSettings | None = None, **options: Any) -> str:
        """The Flink SQL this job compiles to (statements separated by ``;``)."""
        from agentflux.streams.flink_sql import compile_job

        return compile_job(self.checked(), kafka, **options).script()

    def run(self, engine: EngineName = "embedded", kafka: KafkaSettings | None = None, **options: Any) -> None:
        """Run until stopped (Ctrl-C / SIGTERM). ``options`` go to the engine's settings."""
        from agentflux.streams.engines import run_job

        run_job(self.checked(), engine, kafka, **options)
