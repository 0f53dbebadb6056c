"""``StreamJob``: one windowed job definition, run by either engine.

Each builder method returns a new job; nothing connects or runs until the
job is started (``run_job`` or ``agentflux streams run``)::

    job = (
        StreamJob("vibration-anomalies")
        .source("manufacturing.sensor-reading.v1", SensorReading, key="machine_id", time="timestamp")
        .window(hopping("10m", "1m", grace="30s"))
        .aggregate(avg_vibration=avg("vibration"), readings=count())
        .filter(col("avg_vibration") > 7.0)
        .sink(task_requests_topic("diagnose-machine"), VibrationAnomaly)
    )
    job.test(readings)                  # in memory, no broker
    print(job_sql(job, kafka))          # the Flink SQL
    run_job(job, engine="embedded")     # or engine="flink"

A result row has the key field, ``window_start`` and ``window_end`` (epoch
milliseconds) and one column per aggregate; the output model takes the
columns it declares (see ``results``). The engines live apart from the
definition (``engines``), and import it; this module imports no engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from agentflux.contract.errors import ConfigError
from agentflux.contract.schemas import avro_schema
from agentflux.contract.topics import validate_topic
from agentflux.streams.aggregates import Aggregate
from agentflux.streams.definition import SOURCE_FORMATS, JobDefinition, Sink, Source, SourceFormat
from agentflux.streams.filters import Filter
from agentflux.streams.reference import Evaluation, evaluate
from agentflux.streams.results import WINDOW_END, WINDOW_START
from agentflux.streams.schema import key_kind, time_kind
from agentflux.streams.windows import Window

Out = TypeVar("Out", bound=BaseModel)
_RESERVED = {WINDOW_START, WINDOW_END, "start", "end"}


@dataclass(frozen=True)
class StreamJob(JobDefinition, Generic[Out]):
    """A windowed aggregation from a source topic to a sink topic. Immutable; build it step by step."""

    def source(
        self, topic: str, model: type[BaseModel], *, key: str, time: str, rekey: bool = False,
        format: SourceFormat = "json",
    ) -> StreamJob[Out]:  # fmt: skip
        """Read ``model`` records from ``topic``, grouped by field ``key``, in event time from field ``time``.

        The topic should be keyed by the key field (the topic contract keys by
        entity). ``rekey=True`` lets the embedded engine regroup a topic that is
        not, through a repartition topic; otherwise a record whose Kafka key
        differs from its key field goes to the dead-letter topic.

        ``format="avro"`` reads a topic whose values are Avro through the schema
        registry (``KafkaSettings.schema_registry_url``), as an app's
        ``app.topic(name, format="avro")`` writes them.
        """
        validate_topic(topic)
        if format not in SOURCE_FORMATS:
            raise ConfigError(
                f"source {topic!r}: format must be one of {', '.join(SOURCE_FORMATS)}; got {format!r} "
                "(Flink has no reader for JSON Schema in the Confluent wire format)"
            )
        if format == "avro":
            avro_schema(model)  # a ConfigError now, for a model Avro cannot describe
        source = Source(
            topic, model, key, time, key_kind(model, key), time_kind(model, time), rekey=rekey, format=format
        )
        return replace(self, _source=source)

    def window(self, window: Window) -> StreamJob[Out]:
        return replace(self, _window=window)

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
        return replace(self, condition=condition if self.condition is None else self.condition & condition)

    def sink(self, topic: str, model: type[Out]) -> StreamJob[Out]:
        """Write results as ``model`` to ``topic``: an event topic or ``agent.task-requests.{skill}``."""
        validate_topic(topic)
        return replace(self, _sink=Sink(topic, model))

    # -- in memory -------------------------------------------------------------

    def evaluate(
        self, records: Iterable[BaseModel | Mapping[str, Any]], *, flush: bool = False,
        partition: Callable[[Any], int] | None = None,
    ) -> Evaluation:  # fmt: skip
        """Run the job over ``records`` in memory, in list order, with full detail (late records, dead letters).

        ``partition`` maps a record to its source partition; by default all are in one.
        """
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
