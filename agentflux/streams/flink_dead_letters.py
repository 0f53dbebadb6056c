"""The dead-letter path of a Flink job: the source topic read again as raw bytes, bad records to the DLQ topic.

It runs in the same Flink job as the windows (one statement set, one set of
checkpoints) and writes what the embedded engine writes: the original key,
value and headers, plus the contract's ``dlq_*`` headers (``dlq_group`` is
the job's group, ``agentflux.streams.{job}.flink``; ``dlq_attempts`` is 1).
It reads under a group of its own, ``{group}.dead-letters``, so each path
resumes from its own committed offsets.

Cost: a record that matches ``canonical_pattern`` after one ``JSON_QUERY``
is good; only the others are checked field by field, with ``JSON_VALUE``.
The checks are those of the window path (``flink_checks``), on the same
texts, so a record is dead-lettered exactly when the window path drops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflux.contract.topics import DEAD_LETTER_TOPIC
from agentflux.ops.deadletters import SOURCE_TOPIC
from agentflux.streams.filters import sql_literal
from agentflux.streams.flink_checks import (
    PAYLOAD,
    Check,
    canonical_fields,
    canonical_pattern,
    checks,
    first_failure,
    kinds,
)
from agentflux.streams.flink_ddl import bytes_of, create_table
from agentflux.streams.invalid import NOT_JSON, NOT_OBJECT, TOMBSTONE

if TYPE_CHECKING:
    from agentflux.streams.job import StreamJob

DEAD_LETTER_GROUP_SUFFIX = ".dead-letters"
_TEXT = "CAST(`__value` AS STRING)"
_MAX_MESSAGE = 4000


def raw_source(name: str, kafka: Mapping[str, str], options: Mapping[str, str]) -> str:
    """Key and value as bytes, with the partition, offset and headers of each record."""
    columns = [
        "`__key` BYTES",
        "`__value` BYTES",
        "`__partition` INT METADATA FROM 'partition' VIRTUAL",
        "`__offset` BIGINT METADATA FROM 'offset' VIRTUAL",
        "`__headers` MAP<STRING, BYTES> METADATA FROM 'headers' VIRTUAL",
    ]
    formats = {"key.format": "raw", "key.fields": "__key", "value.format": "raw", "value.fields-include": "EXCEPT_KEY"}
    return create_table(name, columns, {**kafka, **formats, **options})


def dead_letter_sink(name: str, kafka: Mapping[str, str]) -> str:
    columns = ["`__key` BYTES", "`__value` BYTES", "`__headers` MAP<STRING, BYTES> METADATA FROM 'headers'"]
    return create_table(name, columns, {
        "connector": "kafka", "topic": DEAD_LETTER_TOPIC, **kafka,
        "key.format": "raw", "key.fields": "__key", "value.format": "raw", "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "at-least-once",
    })  # fmt: skip


def _record_checks(job: StreamJob[Any]) -> list[Check]:
    """Tombstone, UTF-8 and JSON first, then the window path's checks on ``JSON_VALUE`` texts."""
    utf8 = f"CAST({_TEXT} AS BYTES) <> `__value`"
    found = [
        Check("`__value` IS NULL", PAYLOAD, sql_literal(TOMBSTONE)),
        Check(f"{utf8} OR NOT ({_TEXT} IS JSON)", PAYLOAD, sql_literal(NOT_JSON)),
        Check(f"NOT ({_TEXT} IS JSON OBJECT)", PAYLOAD, sql_literal(NOT_OBJECT)),
    ]
    texts = {}
    for field in kinds(job):
        path = sql_literal(f"$[{sql_literal(field)}]")
        texts[field] = f"COALESCE(JSON_VALUE({_TEXT}, {path}), JSON_QUERY({_TEXT}, {path}))"
    return found + checks(job, texts, None if job.source_spec.rekey else "CAST(`__key` AS STRING)")


def _fast_pass(job: StreamJob[Any]) -> str:
    """TRUE for a record that certainly passes: valid UTF-8 and one ``JSON_QUERY`` matching the pattern."""
    path = sql_literal("$[" + ",".join(sql_literal(f) for f in canonical_fields(job)) + "]")
    canonical = f"JSON_QUERY({_TEXT}, {path})"
    subject = canonical if job.source_spec.rekey else f"CONCAT(CAST(`__key` AS STRING), CHR(1), {canonical})"
    pattern = sql_literal(canonical_pattern(job, with_key=not job.source_spec.rekey))
    return f"COALESCE(CAST({_TEXT} AS BYTES) = `__value` AND REGEXP({subject}, {pattern}), FALSE)"


def dead_letter_insert(job: StreamJob[Any], source: str, sink: str, *, group: str) -> str:
    """``INSERT`` of each record that fails a check, with its headers and the ``dlq_*`` ones."""
    found = _record_checks(job)
    message = first_failure(found)
    dlq = {
        SOURCE_TOPIC: sql_literal(job.source_spec.topic),
        "dlq_source_partition": "CAST(`__partition` AS STRING)",
        "dlq_source_offset": "CAST(`__offset` AS STRING)",
        "dlq_group": sql_literal(group),
        "dlq_agent": sql_literal(job.name),
        "dlq_attempts": "'1'",
        "dlq_error_type": first_failure(found, what="error_type"),
        "dlq_error_message": f"SUBSTRING({message} FROM 1 FOR {_MAX_MESSAGE})",
        "dlq_failed_at": "DATE_FORMAT(NOW(), 'yyyy-MM-dd''T''HH:mm:ss.SSS''Z''')",
    }
    entries = ",\n    ".join(f"{sql_literal(k)}, {bytes_of(v)}" for k, v in dlq.items())
    headers = f"MAP_UNION(`__headers`, MAP[\n    {entries}])"
    where = f"NOT {_fast_pass(job)}\n  AND {message} IS NOT NULL"
    return f"INSERT INTO {sink}\nSELECT `__key`, `__value`, {headers}\nFROM {source}\nWHERE {where}"


def dead_letter_group(group: str) -> str:
    return group + DEAD_LETTER_GROUP_SUFFIX
