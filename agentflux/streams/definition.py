"""What a stream job is: its source, window, aggregates, filter and sink, and the checks that hold them together.

``JobDefinition`` holds the parts; ``StreamJob`` (``job``) adds the fluent
builder and the in-memory run. The reference evaluation and both engines read
a job through this module's names: ``source_spec``, ``window_spec`` and
``sink_spec`` are the parts a complete job has (a ``ConfigError`` otherwise),
``condition`` is its optional filter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Self

from pydantic import BaseModel

from agentflux.contract.errors import ConfigError
from agentflux.streams.aggregates import Aggregate
from agentflux.streams.filters import Filter
from agentflux.streams.results import WINDOW_END, WINDOW_START
from agentflux.streams.schema import KeyKind, TimeKind, check_numeric, output_fields
from agentflux.streams.windows import Window

_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
SourceFormat = Literal["json", "avro"]
SOURCE_FORMATS: tuple[SourceFormat, ...] = ("json", "avro")


@dataclass(frozen=True)
class Source:
    """The topic a job reads, its payload model, and the model's key and event-time fields.

    ``format`` is how the topic's values are written: ``json``, or ``avro`` in the
    Confluent wire format through the schema registry (the embedded engine decodes
    with the writer's schema into ``model``, as agents do; Flink reads it with its
    ``avro-confluent`` format). Each engine compiles it its own way.
    """

    topic: str
    model: type[BaseModel]
    key: str
    time: str
    key_kind: KeyKind
    time_kind: TimeKind
    rekey: bool = False
    format: SourceFormat = "json"

    @property
    def registered(self) -> bool:
        """True when the values go through the schema registry."""
        return self.format != "json"


@dataclass(frozen=True)
class Sink:
    """The topic a job writes its results to, and their output model."""

    topic: str
    model: type[BaseModel]


@dataclass(frozen=True)
class JobDefinition:
    """The parts of a windowed job, each ``None`` (or empty) until set. Immutable."""

    name: str
    _source: Source | None = None
    _window: Window | None = None
    aggregates: tuple[tuple[str, Aggregate], ...] = ()
    condition: Filter | None = None
    _sink: Sink | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"job name {self.name!r}: use lowercase words joined by hyphens, e.g. vibration-anomalies"
            )

    def checked(self) -> Self:
        """This job, once it is complete and consistent; a ConfigError naming what is missing otherwise."""
        parts = (
            ("source", self._source),
            ("window", self._window),
            ("aggregate", self.aggregates),
            ("sink", self._sink),
        )
        missing = [what for what, value in parts if not value]
        if missing:
            raise ConfigError(f"job {self.name!r} has no {', '.join(missing)}")
        source = self.source_spec
        if source.key in dict(self.aggregates):
            raise ConfigError(f"aggregate name {source.key!r} is the key field's name")
        for _, agg in self.aggregates:
            if agg.field is not None:
                check_numeric(source.model, agg.field)
        if self.condition is not None:
            unknown = self.condition.columns() - {source.key, *dict(self.aggregates)}
            if unknown:
                raise ConfigError(f"filter names {sorted(unknown)}, which are not aggregates of job {self.name!r}")
        output_fields(self.sink_spec.model, self.columns)
        return self

    @property
    def source_spec(self) -> Source:
        if self._source is None:
            raise ConfigError(f"job {self.name!r} has no source")
        return self._source

    @property
    def window_spec(self) -> Window:
        if self._window is None:
            raise ConfigError(f"job {self.name!r} has no window")
        return self._window

    @property
    def sink_spec(self) -> Sink:
        if self._sink is None:
            raise ConfigError(f"job {self.name!r} has no sink")
        return self._sink

    @property
    def columns(self) -> list[str]:
        """Every column of a result row, in order."""
        return [self.source_spec.key, WINDOW_START, WINDOW_END, *(name for name, _ in self.aggregates)]

    @property
    def output_fields(self) -> list[str]:
        """The columns written to the sink: those the output model declares."""
        return output_fields(self.sink_spec.model, self.columns)

    @property
    def aggregated_fields(self) -> list[str]:
        return list(dict.fromkeys(agg.field for _, agg in self.aggregates if agg.field is not None))

    def keeps(self, row: Mapping[str, Any]) -> bool:
        return self.condition is None or self.condition.evaluate(row)
