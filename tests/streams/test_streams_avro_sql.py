"""An Avro source in the job definition and in the Flink SQL it compiles to (no broker, no registry)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from streams_fixture import Reading, WindowResult, make_job

from agentflux.contract.errors import ConfigError
from agentflux.streams import StreamJob, count, job_sql, tumbling
from agentflux.streams.flink_sql import compile_job
from agentflux.transport.settings import KafkaSettings

SRC, TASKS = "factory.sensor-reading.v1", "agent.task-requests.diagnose-machine"
REGISTRY = "http://127.0.0.1:8081/apis/ccompat/v7"


def test_an_avro_source_compiles_to_flinks_avro_confluent_format_with_the_models_fields() -> None:
    kafka = KafkaSettings("broker:9092", schema_registry_url=REGISTRY)
    sql = compile_job(make_job("vib", SRC, TASKS, format="avro"), kafka, redact=False)
    assert "'value.format' = 'avro-confluent'" in sql.source
    assert f"'value.avro-confluent.url' = '{REGISTRY}'" in sql.source
    # The columns are the Avro schema's fields, in its order, with its nullability; a datetime is micros.
    assert "`machine_id` STRING NOT NULL,\n  `ts` BIGINT NOT NULL,\n  `v` DOUBLE NOT NULL" in sql.source
    assert "__rowtime AS TO_TIMESTAMP_LTZ(`ts` / 1000, 3)" in sql.source
    assert "__kafka_key" not in sql.source  # Flink groups by the field; it cannot dead-letter an Avro record
    assert sql.inserts == [sql.insert] and len(sql.statements) == 3  # no dead-letter path
    assert "HOP(TABLE `vib_valid`" in sql.insert


def test_the_registry_credentials_are_masked_in_printed_sql() -> None:
    config = {"basic.auth.user.info": "user:secret"}
    kafka = KafkaSettings("broker:9092", schema_registry_url=REGISTRY, schema_registry_config=config)
    script = job_sql(make_job("vib", SRC, TASKS, format="avro"), kafka)
    assert "'value.avro-confluent.basic-auth.credentials-source' = 'USER_INFO'" in script
    assert "secret" not in script and "'value.avro-confluent.basic-auth.user-info' = '******'" in script
    assert "<schema-registry-url>" in job_sql(make_job("vib", SRC, TASKS, format="avro"))  # no cluster given


def test_an_avro_source_needs_a_registry_url_and_a_flat_model() -> None:
    with pytest.raises(ConfigError, match="schema registry"):
        compile_job(make_job("vib", SRC, TASKS, format="avro"), KafkaSettings("broker:9092"))

    class Tagged(BaseModel):
        machine_id: str
        ts: int
        v: float
        tags: list[str]

    job = (
        StreamJob("tagged").source(SRC, Tagged, key="machine_id", time="ts", format="avro")
        .window(tumbling(1000)).aggregate(readings=count()).sink(TASKS, WindowResult)
    )  # fmt: skip
    with pytest.raises(ConfigError, match="'tags' is Avro"):
        compile_job(job, KafkaSettings("b:9092", schema_registry_url=REGISTRY))


def test_a_source_format_is_json_or_avro() -> None:
    with pytest.raises(ConfigError, match="format must be one of json, avro"):
        StreamJob("j").source(SRC, Reading, key="machine_id", time="ts", format="json-schema")  # type: ignore[arg-type]
    assert make_job("vib", SRC, TASKS).source_spec.format == "json"
    assert make_job("vib", SRC, TASKS, format="avro").source_spec.registered
