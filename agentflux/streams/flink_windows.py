"""The window path of a Flink job: the JSON source with its watermark, the valid rows, the window, the sink.

The source reads each field the job uses as text and checks it in SQL
(``flink_checks``). ``__rowtime`` is NULL for a record that fails any check,
so such a record moves no watermark and reaches no window (rule 5 of
``docs/streams.md``); the dead-letter path writes it out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflux.contract.envelope import JSON, SPECVERSION
from agentflux.contract.topics import event_type
from agentflux.streams.filters import sql_literal
from agentflux.streams.flink_checks import all_pass, checks, kinds, time_ms, typed
from agentflux.streams.flink_ddl import create_table, epoch_ms, interval, quote
from agentflux.streams.results import WINDOW_END, WINDOW_START, is_task_sink

if TYPE_CHECKING:
    from agentflux.streams.job import StreamJob

ROWTIME = "__rowtime"
KAFKA_KEY = "`__kafka_key`"
_FUNCS = {"avg": "AVG", "min": "MIN", "max": "MAX", "sum": "SUM"}


def window_source(job: StreamJob[Any], name: str, kafka: Mapping[str, str], options: Mapping[str, str]) -> str:
    """The source table: the Kafka key (unless the job rekeys) and the job's fields as text, and the watermark."""
    source = job.source_spec
    fields = kinds(job)
    texts = {f: quote(f) for f in fields}
    found = checks(job, texts, None if source.rekey else KAFKA_KEY)
    time_text = texts[source.time]
    millis = time_ms(time_text) if fields[source.time] == "datetime" else typed("int", time_text)
    columns = [] if source.rekey else [f"{KAFKA_KEY} STRING"]
    columns += [f"{quote(f)} STRING" for f in fields]
    columns += [
        f"{ROWTIME} AS TO_TIMESTAMP_LTZ(CASE WHEN {all_pass(found)} THEN {millis} END, 3)",
        f"WATERMARK FOR {ROWTIME} AS {ROWTIME} - {interval(job.window_spec.grace_ms + 1)}",
    ]
    formats = {"value.format": "json", "value.json.ignore-parse-errors": "true"}
    if not source.rekey:
        formats = {"key.format": "raw", "key.fields": "__kafka_key", **formats, "value.fields-include": "EXCEPT_KEY"}
    return create_table(name, columns, {**kafka, **formats, **options})


def valid_view(job: StreamJob[Any], name: str, source: str) -> str:
    """The rows that passed every check, typed: the key, ``__rowtime`` and each aggregated field as DOUBLE."""
    key, fields = job.source_spec.key, kinds(job)
    select = [f"{typed(fields[key], quote(key))} AS {quote(key)}", ROWTIME]
    for field in job.aggregated_fields:
        if field != key:
            value = typed(fields[field], quote(field))
            select.append(f"{value if fields[field] == 'float' else f'CAST({value} AS DOUBLE)'} AS {quote(field)}")
    return f"CREATE TEMPORARY VIEW {name} AS\nSELECT {', '.join(select)}\nFROM {source}\nWHERE {ROWTIME} IS NOT NULL"


def result_sink(job: StreamJob[Any], name: str, kafka: Mapping[str, str]) -> str:
    """Raw key, the output model's columns as JSON, and the CloudEvents headers."""
    key_type = "STRING" if job.source_spec.key_kind == "str" else "BIGINT"
    out_types = {job.source_spec.key: key_type, WINDOW_START: "BIGINT", WINDOW_END: "BIGINT"}
    out_types |= {n: "BIGINT" if a.function == "count" else "DOUBLE" for n, a in job.aggregates}
    columns = ["`__key` STRING", *(f"{quote(n)} {out_types[n]}" for n in job.output_fields)]
    columns.append("`__headers` MAP<STRING, BYTES> METADATA FROM 'headers'")
    return create_table(name, columns, {
        "connector": "kafka", "topic": job.sink_spec.topic, **kafka,
        "key.format": "raw", "key.fields": "__key", "value.format": "json", "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "at-least-once",
    })  # fmt: skip


def window_insert(job: StreamJob[Any], view: str, sink: str) -> str:
    """``INSERT`` of the window results, with ids derived by ``MD5`` as ``results`` derives them."""
    key_field, window, sink_topic = job.source_spec.key, job.window_spec, job.sink_spec.topic
    key = quote(key_field)
    aggs = {n: "COUNT(*)" if a.function == "count" else f"{_FUNCS[a.function]}(CAST({quote(a.field or '')} AS DOUBLE))"
            for n, a in job.aggregates}  # fmt: skip
    tvf = (
        f"TUMBLE(TABLE {view}, DESCRIPTOR({ROWTIME}), {interval(window.size_ms)})"
        if window.tumbling
        else f"HOP(TABLE {view}, DESCRIPTOR({ROWTIME}), {interval(window.slide_ms)}, {interval(window.size_ms)})"
    )
    inner = [
        key,
        f"{epoch_ms('window_start')} AS {quote(WINDOW_START)}",
        f"{epoch_ms('window_end')} AS {quote(WINDOW_END)}",
    ]
    inner += [f"{expr} AS {quote(n)}" for n, expr in aggs.items()]
    having = "" if job.condition is None else "\n    HAVING " + job.condition.to_sql({key_field: key, **aggs})
    grouped = (
        f"    SELECT {', '.join(inner)}\n    FROM TABLE({tvf})\n    GROUP BY window_start, window_end, {key}{having}"
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
        "ce_type": sql_literal(event_type(sink_topic)), "ce_time": ce_time, "content-type": sql_literal(JSON),
        "ce_correlationid": window_id, "traceparent": "CONCAT('00-', `__h`, '-', SUBSTRING(`__h`, 1, 16), '-01')",
    }  # fmt: skip
    if is_task_sink(sink_topic):
        headers["ce_taskid"] = window_id
    header_map = "MAP[" + ",\n    ".join(f"{sql_literal(k)}, CAST({v} AS BYTES)" for k, v in headers.items()) + "]"
    select = [f"CAST({key} AS STRING)", *(quote(n) for n in job.output_fields), header_map]
    return f"INSERT INTO {sink}\nSELECT " + ",\n  ".join(select) + f"\nFROM (\n{hashed}\n)"
