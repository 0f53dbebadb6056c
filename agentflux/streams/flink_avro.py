"""The window source of a Flink job whose source topic is Avro: Flink's ``avro-confluent`` value format.

The table's columns are the fields of the model's Avro schema (the schema the
producers register, ``agentflux.contract.schemas.avro_schema``), in its order,
with its types and nullability: Flink derives its reader schema from these
columns and decodes each record with the writer's schema, by the id the record
carries, from the registry at ``avro-confluent.url``. Flink's reader schema is
a record named ``record`` (namespace ``org.apache.flink.avro.generated``), not
the writer's name: Avro matches a top-level record by its fields, which the
tests check against the registry.

Timestamps are read as numbers: Flink's Avro types know ``TIMESTAMP(3)``
(``timestamp-millis``) only, and pydantic's datetimes are ``timestamp-micros``
(``py-avro-schema``). A ``BIGINT`` column reads the writer's ``long`` (Avro
resolves a logical type by its underlying type), and ``__rowtime`` is
``TO_TIMESTAMP_LTZ(micros / 1000, 3)``: milliseconds truncated, as the
reference's ``epoch_ms`` truncates.

What differs from a JSON source (``docs/streams.md`` says it for users):

* The schema guarantees each field's type, and the job's fields are never
  null (``schema.py`` refuses optional ones), so the field checks of
  ``flink_checks`` have nothing left to find.
* There is no dead-letter path: Flink's ``avro-confluent`` format cannot skip a
  record it cannot decode (not in the wire format, an unknown schema id). Such a
  record fails the job. Nor is the Kafka key compared with the key field: windows
  are grouped by the field, as Flink always groups them.
* A tombstone is skipped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentflux.contract.errors import ConfigError
from agentflux.contract.schemas import avro_schema
from agentflux.streams.flink_ddl import create_table, interval, quote

if TYPE_CHECKING:
    from agentflux.streams.job import StreamJob
    from agentflux.transport.settings import KafkaSettings

ROWTIME = "__rowtime"
PLACEHOLDER_REGISTRY = "<schema-registry-url>"
_PRIMITIVES = {"string": "STRING", "double": "DOUBLE", "float": "FLOAT", "long": "BIGINT", "int": "INT",
               "boolean": "BOOLEAN", "bytes": "BYTES"}  # fmt: skip
#: Logical types read as their underlying numbers (see above): the column type, and the unit's ms divisor.
_LOGICAL = {"timestamp-micros": ("BIGINT", 1000), "timestamp-millis": ("BIGINT", 1), "date": ("INT", 0)}


def _flink_type(field: str, avro: Any) -> str:
    """The Flink SQL type that Flink's Avro converter maps to ``avro`` (and back), with its nullability."""
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) == 1 and len(avro) == 2:
            return _flink_type(field, branches[0]).removesuffix(" NOT NULL")
    elif isinstance(avro, dict) and avro.get("logicalType") in _LOGICAL:
        return _LOGICAL[avro["logicalType"]][0] + " NOT NULL"
    elif isinstance(avro, str) and avro in _PRIMITIVES:
        return _PRIMITIVES[avro] + " NOT NULL"
    raise ConfigError(
        f"field {field!r} is Avro {json.dumps(avro)}: the Flink engine reads flat records of strings, numbers, "
        "booleans, bytes, dates and timestamps, each optional or not"
    )


def _fields(job: StreamJob[Any]) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = json.loads(avro_schema(job.source_spec.model))["fields"]
    return fields


def avro_columns(job: StreamJob[Any]) -> list[str]:
    """``name TYPE [NOT NULL]`` for each field of the source model's Avro schema, in the schema's order."""
    return [f"{quote(f['name'])} {_flink_type(f['name'], f['type'])}" for f in _fields(job)]


def time_millis(job: StreamJob[Any]) -> str:
    """Epoch milliseconds of the event-time field: micros / 1000 for a datetime (``timestamp-micros``)."""
    source = job.source_spec
    column = quote(source.time)
    if source.time_kind == "epoch_ms":
        return column
    [found] = [f["type"] for f in _fields(job) if f["name"] == source.time]
    divisor = _LOGICAL.get(found.get("logicalType", "") if isinstance(found, dict) else "", ("", 0))[1]
    if not divisor:
        raise ConfigError(f"event-time field {source.time!r} is Avro {json.dumps(found)}, not a timestamp")
    return column if divisor == 1 else f"{column} / {divisor}"


def registry_options(kafka: KafkaSettings | None) -> dict[str, str]:
    """``value.avro-confluent.*``: the registry URL (the ccompat base for Apicurio) and basic auth, if set."""
    url = kafka.schema_registry_url if kafka is not None else PLACEHOLDER_REGISTRY
    if not url:
        raise ConfigError(
            "the job's source is avro: Flink needs the schema registry's URL "
            "(`agentflux up` starts one, or set AGENTFLUX_SCHEMA_REGISTRY_URL)"
        )
    options = {"value.avro-confluent.url": url}
    user_info = kafka.schema_registry_config.get("basic.auth.user.info") if kafka is not None else None
    if user_info:
        options["value.avro-confluent.basic-auth.credentials-source"] = "USER_INFO"
        options["value.avro-confluent.basic-auth.user-info"] = user_info
    return options


def avro_window_source(
    job: StreamJob[Any], name: str, kafka: Mapping[str, str], registry: Mapping[str, str], options: Mapping[str, str]
) -> str:
    """The source table: the model's fields, typed, ``__rowtime`` from the event-time field, the watermark."""
    columns = [
        *avro_columns(job),
        f"{ROWTIME} AS TO_TIMESTAMP_LTZ({time_millis(job)}, 3)",
        f"WATERMARK FOR {ROWTIME} AS {ROWTIME} - {interval(job.window_spec.grace_ms + 1)}",
    ]
    return create_table(name, columns, {**kafka, "value.format": "avro-confluent", **registry, **options})


def avro_valid_view(job: StreamJob[Any], name: str, source: str) -> str:
    """The key, ``__rowtime`` and each aggregated field as DOUBLE: every decoded record is valid."""
    key = quote(job.source_spec.key)
    fields = [f for f in job.aggregated_fields if f != job.source_spec.key]
    select = [key, ROWTIME, *(f"CAST({quote(f)} AS DOUBLE) AS {quote(f)}" for f in fields)]
    return f"CREATE TEMPORARY VIEW {name} AS\nSELECT {', '.join(select)}\nFROM {source}"
