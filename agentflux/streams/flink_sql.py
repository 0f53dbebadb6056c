"""Compile a ``StreamJob`` to Flink SQL: a Kafka source with a watermark, a HOP (or TUMBLE)
window table-valued function, ``GROUP BY window_start, window_end, key``, ``HAVING``, a Kafka sink.

How the SQL keeps the embedded engine's semantics (``docs/streams.md``):

* ``table.local-time-zone`` is UTC, so windows align to the epoch;
* the watermark is ``rowtime - (grace + 1 ms)``: Flink fires a window once the
  watermark reaches ``end - 1``, which is then exactly ``max time - grace >= end``;
* ``scan.watermark.emit.strategy = on-event`` emits the watermark after every
  record, so a record's lateness does not depend on wall-clock timing;
* rows with a null key, event time or aggregated field (malformed JSON is read
  as nulls) are dropped before the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agentflux.contract.envelope import JSON, SPECVERSION
from agentflux.contract.errors import ConfigError
from agentflux.contract.topics import event_type
from agentflux.streams.filters import sql_literal
from agentflux.streams.flink_props import java_properties, redacted
from agentflux.streams.results import WINDOW_END, WINDOW_START, is_task_sink

if TYPE_CHECKING:
    from collections.abc import Mapping

    from agentflux.streams.job import StreamJob
    from agentflux.transport.settings import KafkaSettings

Startup = Literal["group-offsets", "earliest-offset", "latest-offset"]
WatermarkEmit = Literal["on-event", "on-periodic"]
ROWTIME = "__rowtime"
_FUNCS = {"avg": "AVG", "min": "MIN", "max": "MAX", "sum": "SUM"}
_MAX_INTERVAL_MS = 100 * 86_400_000


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def interval(ms: int) -> str:
    """A DAY TO SECOND(3) literal: the plain SECOND form overflows past 99 seconds."""
    if ms >= _MAX_INTERVAL_MS:
        raise ConfigError(f"{ms} ms is too long for a Flink interval literal (under 100 days)")
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}' DAY TO SECOND(3)"


def epoch_ms(column: str) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000 + EXTRACT(MILLISECOND FROM {column}) AS BIGINT)"


def _with(options: Mapping[str, str]) -> str:
    body = ",\n".join(f"  {sql_literal(k)} = {sql_literal(v)}" for k, v in options.items())
    return f"WITH (\n{body}\n)"


@dataclass(frozen=True)
class FlinkSql:
    """The statements of one job, in execution order, and the session settings they assume."""

    config: dict[str, str]
    source: str
    view: str
    sink: str
    insert: str

    @property
    def statements(self) -> list[str]:
        return [self.source, self.view, self.sink, self.insert]

    def script(self) -> str:
        sets = [f"SET {sql_literal(k)} = {sql_literal(v)};" for k, v in self.config.items()]
        return "\n".join(sets) + "\n\n" + "\n\n".join(s + ";" for s in self.statements) + "\n"


def compile_job(
    job: StreamJob[Any], kafka: KafkaSettings | None = None, *, group_id: str | None = None,
    startup: Startup = "group-offsets", watermark_emit: WatermarkEmit = "on-event", idle_timeout_ms: int = 1000,
    suffix: str = "", kafka_properties: Mapping[str, str] | None = None, redact: bool = True,
) -> FlinkSql:  # fmt: skip
    """The Flink SQL for ``job``; ``suffix`` keeps table names apart when jobs share a session."""
    src, win, snk = job.src, job.win, job.snk
    props = java_properties(kafka, kafka_properties)
    props = redacted(props) if redact else props
    kafka_opts = {f"properties.{k}": v for k, v in props.items()}
    base = re.sub(r"\W", "_", job.name) + suffix
    names = {"src": quote(f"{base}_source"), "view": quote(f"{base}_valid"), "sink": quote(f"{base}_sink")}
    key, key_type = quote(src.key), "STRING" if src.key_kind == "str" else "BIGINT"
    time = quote(src.time)
    fields = job.aggregated_fields
    rowtime = time if src.time_kind == "datetime" else f"TO_TIMESTAMP_LTZ({time}, 3)"
    columns = [f"{key} {key_type}", f"{time} {'TIMESTAMP_LTZ(3)' if src.time_kind == 'datetime' else 'BIGINT'}"]
    columns += [f"{quote(f)} DOUBLE" for f in fields if f not in (src.key, src.time)]
    columns += [f"{ROWTIME} AS {rowtime}", f"WATERMARK FOR {ROWTIME} AS {ROWTIME} - {interval(win.grace_ms + 1)}"]
    source = f"CREATE TEMPORARY TABLE {names['src']} (\n  " + ",\n  ".join(columns) + "\n) " + _with({
        "connector": "kafka", "topic": src.topic, **kafka_opts,
        "properties.group.id": group_id or f"agentflux.streams.{job.name}.flink",
        "scan.startup.mode": startup, "properties.auto.offset.reset": "earliest",
        "format": "json", "json.ignore-parse-errors": "true", "json.timestamp-format.standard": "ISO-8601",
        "scan.watermark.emit.strategy": watermark_emit, "scan.watermark.idle-timeout": f"{idle_timeout_ms} ms",
    })  # fmt: skip
    not_null = " AND ".join(f"{c} IS NOT NULL" for c in [key, ROWTIME, *(quote(f) for f in fields)])
    view = f"CREATE TEMPORARY VIEW {names['view']} AS\nSELECT * FROM {names['src']}\nWHERE {not_null}"

    out_types = {src.key: key_type, WINDOW_START: "BIGINT", WINDOW_END: "BIGINT"}
    out_types |= {n: "BIGINT" if a.function == "count" else "DOUBLE" for n, a in job.aggregates}
    out = job.output_fields
    sink_cols = ["`__key` STRING", *(f"{quote(n)} {out_types[n]}" for n in out)]
    sink_cols.append("`__headers` MAP<STRING, BYTES> METADATA FROM 'headers'")
    sink = f"CREATE TEMPORARY TABLE {names['sink']} (\n  " + ",\n  ".join(sink_cols) + "\n) " + _with({
        "connector": "kafka", "topic": snk.topic, **kafka_opts,
        "key.format": "raw", "key.fields": "__key", "value.format": "json", "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "at-least-once",
    })  # fmt: skip
    insert = _insert(job, names, out)
    config = {"table.local-time-zone": "UTC", "table.exec.source.idle-timeout": f"{idle_timeout_ms} ms"}
    return FlinkSql(config, source, view, sink, insert)


def _insert(job: StreamJob[Any], names: Mapping[str, str], out: list[str]) -> str:
    src, win, snk = job.src, job.win, job.snk
    key = quote(src.key)
    aggs = {n: "COUNT(*)" if a.function == "count" else f"{_FUNCS[a.function]}(CAST({quote(a.field or '')} AS DOUBLE))"
            for n, a in job.aggregates}  # fmt: skip
    tvf = (
        f"TUMBLE(TABLE {names['view']}, DESCRIPTOR({ROWTIME}), {interval(win.size_ms)})"
        if win.tumbling
        else f"HOP(TABLE {names['view']}, DESCRIPTOR({ROWTIME}), {interval(win.slide_ms)}, {interval(win.size_ms)})"
    )
    inner = [
        key,
        f"{epoch_ms('window_start')} AS {quote(WINDOW_START)}",
        f"{epoch_ms('window_end')} AS {quote(WINDOW_END)}",
    ]
    inner += [f"{expr} AS {quote(n)}" for n, expr in aggs.items()]
    having = "" if job.filter_ is None else "\n    HAVING " + job.filter_.to_sql({src.key: key, **aggs})
    grouped = (
        "    SELECT "
        + ", ".join(inner)
        + f"\n    FROM TABLE({tvf})\n    GROUP BY window_start, window_end, {key}"
        + having
    )
    parts = [sql_literal(job.name), f"CAST({key} AS STRING)", f"CAST({quote(WINDOW_START)} AS STRING)",
             f"CAST({quote(WINDOW_END)} AS STRING)"]  # fmt: skip
    hashed = f"  SELECT *, MD5(CONCAT_WS('|', {', '.join(parts)})) AS `__h`\n  FROM (\n{grouped}\n  )"
    window_id = "CONCAT_WS('-', " + ", ".join(
        f"SUBSTRING(`__h`, {a}, {n})" for a, n in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
    ) + ")"  # fmt: skip
    ce_time = f"DATE_FORMAT(TO_TIMESTAMP_LTZ({quote(WINDOW_END)}, 3), 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')"
    headers = {
        "ce_specversion": sql_literal(SPECVERSION), "ce_id": window_id, "ce_source": sql_literal(job.name),
        "ce_type": sql_literal(event_type(snk.topic)), "ce_time": ce_time, "content-type": sql_literal(JSON),
        "ce_correlationid": window_id, "traceparent": "CONCAT('00-', `__h`, '-', SUBSTRING(`__h`, 1, 16), '-01')",
    }  # fmt: skip
    if is_task_sink(snk.topic):
        headers["ce_taskid"] = window_id
    header_map = "MAP[" + ",\n    ".join(f"{sql_literal(k)}, CAST({v} AS BYTES)" for k, v in headers.items()) + "]"
    select = [f"CAST({key} AS STRING)", *(quote(n) for n in out), header_map]
    return f"INSERT INTO {names['sink']}\nSELECT " + ",\n  ".join(select) + f"\nFROM (\n{hashed}\n)"
