"""Compile a ``StreamJob`` to Flink SQL: one Flink job with two paths over the source topic.

* The window path (``flink_windows``): a Kafka source with a watermark, a HOP
  (or TUMBLE) window table-valued function, ``GROUP BY window_start,
  window_end, key``, ``HAVING``, a Kafka sink.
* The dead-letter path (``flink_dead_letters``): the same topic as raw
  bytes; each record that fails the job's checks goes to
  ``agent.dead-letter.v1``. The window path drops exactly those records.

Both ``INSERT`` statements run as one statement set, hence one Flink job
covered by the same checkpoints. How the SQL keeps the embedded engine's
semantics (``docs/streams.md``):

* ``table.local-time-zone`` is UTC, so windows align to the epoch;
* the watermark is ``rowtime - (grace + 1 ms)``: Flink fires a window once the
  watermark reaches ``end - 1``, which is then exactly ``max time - grace >= end``;
* ``scan.watermark.emit.strategy = on-event`` emits the watermark after every
  record, so a record's lateness does not depend on wall-clock timing;
* no idle timeout by default: a partition never drops out of the watermark,
  so a job that starts behind a backlog loses no window.

An ``avro`` source is read with Flink's ``avro-confluent`` format through the
schema registry instead (``flink_avro``), and has no dead-letter path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agentflux.streams.filters import sql_literal
from agentflux.streams.flink_avro import avro_valid_view, avro_window_source, registry_options
from agentflux.streams.flink_ddl import interval, quote
from agentflux.streams.flink_dead_letters import dead_letter_group, dead_letter_insert, dead_letter_sink, raw_source
from agentflux.streams.flink_props import java_properties, redacted
from agentflux.streams.flink_windows import ROWTIME, result_sink, valid_view, window_insert, window_source

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agentflux.streams.job import StreamJob
    from agentflux.transport.settings import KafkaSettings

Startup = Literal["group-offsets", "earliest-offset", "latest-offset"]
WatermarkEmit = Literal["on-event", "on-periodic"]
__all__ = ["ROWTIME", "FlinkSql", "Startup", "WatermarkEmit", "compile_job", "idle_timeout_config", "interval", "quote"]


@dataclass(frozen=True)
class FlinkSql:
    """The statements of one job and the session settings they assume.

    ``statements`` (the tables and the view) run first, one by one; then
    ``inserts`` run together, as one statement set: one Flink job. The
    dead-letter statements are empty for a source without a dead-letter path (Avro).
    """

    config: dict[str, str]
    source: str
    view: str
    sink: str
    insert: str
    dead_letter_source: str
    dead_letter_sink: str
    dead_letter_insert: str

    @property
    def statements(self) -> list[str]:
        found = [self.source, self.view, self.sink, self.dead_letter_source, self.dead_letter_sink]
        return [s for s in found if s]

    @property
    def inserts(self) -> list[str]:
        return [s for s in (self.insert, self.dead_letter_insert) if s]

    def script(self) -> str:
        """The job as the Flink SQL client takes it: ``SET``s, the tables, then ``EXECUTE STATEMENT SET``."""
        sets = [f"SET {sql_literal(k)} = {sql_literal(v)};" for k, v in self.config.items()]
        inserts = "\n\n".join(s + ";" for s in self.inserts)
        ddl = "\n\n".join(s + ";" for s in self.statements)
        return "\n".join(sets) + "\n\n" + ddl + f"\n\nEXECUTE STATEMENT SET\nBEGIN\n\n{inserts}\n\nEND;\n"


def idle_timeout_config(idle_timeout_ms: int | None) -> dict[str, str]:
    """``table.exec.source.idle-timeout``: ``0 ms`` (never idle) for None or 0."""
    return {"table.exec.source.idle-timeout": f"{idle_timeout_ms or 0} ms"}


def compile_job(
    job: StreamJob[Any], kafka: KafkaSettings | None = None, *, group_id: str | None = None,
    startup: Startup = "group-offsets", watermark_emit: WatermarkEmit = "on-event", idle_timeout_ms: int | None = None,
    suffix: str = "", kafka_properties: Mapping[str, str] | None = None, redact: bool = True,
) -> FlinkSql:  # fmt: skip
    """The Flink SQL for ``job``; ``suffix`` keeps table names apart when jobs share a session.

    ``idle_timeout_ms``: after this much wall time without records a source
    partition no longer holds the watermark back; None or 0 never (the default).
    """
    props = java_properties(kafka, kafka_properties)
    props = redacted(props) if redact else props
    kafka_opts = {f"properties.{k}": v for k, v in props.items()}
    base = re.sub(r"\W", "_", job.name) + suffix
    names = {part: quote(f"{base}_{part}") for part in ("source", "valid", "sink", "raw", "dead_letters")}
    group = group_id or f"agentflux.streams.{job.name}.flink"
    reading = {"connector": "kafka", "topic": job.source_spec.topic, **kafka_opts}
    start = {"scan.startup.mode": startup, "properties.auto.offset.reset": "earliest"}
    watermark: dict[str, str] = {"scan.watermark.emit.strategy": watermark_emit}
    if idle_timeout_ms:
        watermark["scan.watermark.idle-timeout"] = f"{idle_timeout_ms} ms"
    if job.source_spec.registered:
        registry = registry_options(kafka)
        registry = redacted(registry) if redact else registry
        return FlinkSql(
            config={"table.local-time-zone": "UTC", **idle_timeout_config(idle_timeout_ms)},
            source=avro_window_source(
                job, names["source"], reading, registry, {"properties.group.id": group, **start, **watermark}
            ),
            view=avro_valid_view(job, names["valid"], names["source"]),
            sink=result_sink(job, names["sink"], kafka_opts),
            insert=window_insert(job, names["valid"], names["sink"]),
            dead_letter_source="",
            dead_letter_sink="",
            dead_letter_insert="",
        )
    return FlinkSql(
        config={"table.local-time-zone": "UTC", **idle_timeout_config(idle_timeout_ms)},
        source=window_source(job, names["source"], reading, {"properties.group.id": group, **start, **watermark}),
        view=valid_view(job, names["valid"], names["source"]),
        sink=result_sink(job, names["sink"], kafka_opts),
        insert=window_insert(job, names["valid"], names["sink"]),
        dead_letter_source=raw_source(
            names["raw"], reading, {"properties.group.id": dead_letter_group(group), **start}
        ),
        dead_letter_sink=dead_letter_sink(names["dead_letters"], kafka_opts),
        dead_letter_insert=dead_letter_insert(job, names["raw"], names["dead_letters"], group=group),
    )
