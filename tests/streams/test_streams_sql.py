"""Compiling a job to Flink SQL, the result records, and ``agentflux streams sql``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from streams_fixture import make_job

from agentflux.contract.envelope import Envelope
from agentflux.contract.errors import ConfigError
from agentflux.streams import StreamJob, count, job_sql, tumbling
from agentflux.streams.flink_engine import FlinkSettings, parse_idle_timeout
from agentflux.streams.flink_props import java_properties
from agentflux.streams.flink_sql import compile_job, interval
from agentflux.streams.results import encode_value, result_headers, rfc3339_ms
from agentflux.transport.settings import KafkaSettings

SRC, TASKS, EVENTS = "factory.sensor-reading.v1", "agent.task-requests.diagnose-machine", "factory.vibration-window.v1"
ROOT = Path(__file__).resolve().parents[2]


def test_hopping_job_compiles_to_hop_tvf_with_watermark_and_having() -> None:
    sql = compile_job(make_job("vib", SRC, TASKS), KafkaSettings("broker:9092"), redact=False)
    assert "WATERMARK FOR __rowtime AS __rowtime - INTERVAL '0 00:00:02.001' DAY TO SECOND(3)" in sql.source
    assert "`ts` STRING" in sql.source and "`v` STRING" in sql.source and "`__kafka_key` STRING" in sql.source
    assert "__rowtime AS TO_TIMESTAMP_LTZ(CASE" in sql.source  # NULL, hence no watermark, for a record that fails
    assert "'scan.watermark.emit.strategy' = 'on-event'" in sql.source
    assert "idle-timeout" not in sql.source  # no idleness unless asked for
    assert "'properties.bootstrap.servers' = 'broker:9092'" in sql.source
    slide, size = interval(5_000), interval(10_000)
    assert f"HOP(TABLE `vib_valid`, DESCRIPTOR(__rowtime), {slide}, {size})" in sql.insert  # slide before size
    assert "GROUP BY window_start, window_end, `machine_id`" in sql.insert
    assert "HAVING (COUNT(*) >= 2 OR MAX(CAST(`v` AS DOUBLE)) > CAST(50.0 AS DOUBLE))" in sql.insert
    assert "'ce_taskid'" in sql.insert
    assert sql.config == {"table.local-time-zone": "UTC", "table.exec.source.idle-timeout": "0 ms"}
    script = sql.script()
    assert script.startswith("SET 'table.local-time-zone' = 'UTC';")
    assert len(re.findall(r";\n", script)) == 2 + 5 + 2 + 1  # SETs, tables and the view, INSERTs, END
    assert "EXECUTE STATEMENT SET\nBEGIN" in script and script.index(sql.insert) < script.index(sql.dead_letter_insert)


def test_dead_letter_path_reads_the_source_again_and_writes_the_contract_headers() -> None:
    sql = compile_job(make_job("vib", SRC, TASKS), KafkaSettings("broker:9092"), group_id="g", idle_timeout_ms=0)
    assert "'value.format' = 'raw'" in sql.dead_letter_source and f"'topic' = '{SRC}'" in sql.dead_letter_source
    assert "'properties.group.id' = 'g.dead-letters'" in sql.dead_letter_source  # its own offsets
    assert "METADATA FROM 'offset'" in sql.dead_letter_source and "METADATA FROM 'headers'" in sql.dead_letter_source
    assert "'topic' = 'agent.dead-letter.v1'" in sql.dead_letter_sink
    insert = sql.dead_letter_insert
    for header in ("dlq_source_topic", "dlq_source_partition", "dlq_source_offset", "dlq_agent", "dlq_error_type",
                   "dlq_error_message", "dlq_failed_at"):  # fmt: skip
        assert f"'{header}'" in insert
    assert "'dlq_group', CAST('g' AS BYTES)" in insert and "'dlq_attempts', CAST('1' AS BYTES)" in insert
    assert "MAP_UNION(`__headers`" in insert  # the record's own headers, then the dlq_* ones
    assert """field "v" is not a number""" in insert and "'InvalidMessage'" in insert
    rekeyed = compile_job(make_job("vib", SRC, TASKS, rekey=True))
    assert "InvalidMessage" not in rekeyed.dead_letter_insert and "__kafka_key" not in rekeyed.source


def test_idle_timeout_is_off_unless_set() -> None:
    job = make_job("vib", SRC, TASKS)
    assert compile_job(job, idle_timeout_ms=None).config["table.exec.source.idle-timeout"] == "0 ms"
    sql = compile_job(job, idle_timeout_ms=30_000)
    assert sql.config["table.exec.source.idle-timeout"] == "30000 ms"
    assert "'scan.watermark.idle-timeout' = '30000 ms'" in sql.source
    assert FlinkSettings(jars=("/a.jar",)).flink_config()["table.exec.source.idle-timeout"] == "0 ms"
    conf = FlinkSettings(jars=("/a.jar",), idle_timeout_ms=5000).flink_config()
    assert conf["table.exec.source.idle-timeout"] == "5000 ms"
    assert [parse_idle_timeout(t) for t in (None, "0", "0s", "30s", "250ms")] == [None, None, None, 30_000, 250]
    with pytest.raises(ConfigError, match="idle timeout"):
        parse_idle_timeout("soon")


def test_tumbling_event_sink_epoch_time_and_int_key() -> None:
    from pydantic import BaseModel

    class Tick(BaseModel):
        sensor: int
        at_ms: int

    class Out(BaseModel):
        sensor: int
        window_end: int
        n: int

    job = (
        StreamJob("ticks").source("plant.tick.v1", Tick, key="sensor", time="at_ms")
        .window(tumbling("90s", grace="0s")).aggregate(n=count()).sink(EVENTS, Out)
    )  # fmt: skip
    sql = compile_job(job)
    assert "`sensor` STRING" in sql.source and "TRY_CAST(`at_ms` AS BIGINT) END, 3)" in sql.source
    assert "TRY_CAST(`sensor` AS BIGINT) AS `sensor`" in sql.view
    assert "INTERVAL '0 00:00:00.001' DAY TO SECOND(3)" in sql.source
    assert f"TUMBLE(TABLE `ticks_valid`, DESCRIPTOR(__rowtime), {interval(90_000)})" in sql.insert
    assert "'ce_taskid'" not in sql.insert and "HAVING" not in sql.insert
    assert "`window_start` BIGINT" not in sql.sink and "`n` BIGINT" in sql.sink  # only the model's fields
    assert "'<bootstrap-servers>'" in sql.source


def test_intervals() -> None:
    assert interval(600_000) == "INTERVAL '0 00:10:00.000' DAY TO SECOND(3)"
    assert interval(86_400_000 + 1) == "INTERVAL '1 00:00:00.001' DAY TO SECOND(3)"
    with pytest.raises(ConfigError):
        interval(100 * 86_400_000)


def test_kafka_settings_map_to_java_properties_and_secrets_are_masked() -> None:
    kafka = KafkaSettings(
        "b:9093",
        client_config={"security.protocol": "sasl_ssl", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "u",
                       "sasl.password": "p\"w", "ssl.ca.location": "/ca.pem"},
    )  # fmt: skip
    props = java_properties(kafka)
    assert props["security.protocol"] == "SASL_SSL" and props["sasl.mechanism"] == "SCRAM-SHA-512"
    assert props["sasl.jaas.config"].startswith("org.apache.kafka.common.security.scram.ScramLoginModule required")
    assert 'password="p\\"w"' in props["sasl.jaas.config"]
    assert props["ssl.truststore.type"] == "PEM"
    printed = job_sql(make_job("vib", SRC, TASKS), kafka)
    assert "'properties.sasl.jaas.config' = '******'" in printed and 'p\\"w' not in printed


def test_result_records_carry_a_deterministic_cloudevents_envelope() -> None:
    headers = result_headers("vib", TASKS, "m1", 1_700_000_000_000, 1_700_000_010_000)
    assert headers == result_headers("vib", TASKS, "m1", 1_700_000_000_000, 1_700_000_010_000)
    envelope = Envelope.from_headers(headers, fallback_id="x", topic=TASKS)
    assert envelope.assigned == ()
    assert envelope.task_id == envelope.id == envelope.correlation_id and envelope.reply_to is None
    assert envelope.time == "2023-11-14T22:13:30.000Z" and envelope.source == "vib"
    assert result_headers("vib", TASKS, "m2", 1_700_000_000_000, 1_700_000_010_000) != headers
    assert "ce_taskid" not in dict(result_headers("vib", EVENTS, "m1", 0, 10))
    assert rfc3339_ms(1_700_000_004_999) == "2023-11-14T22:13:24.999Z"
    assert encode_value({"a": 1, "b": 2.5, "c": "x"}, ["c", "b"]) == b'{"c":"x","b":2.5}'


def test_flink_settings() -> None:
    with pytest.raises(ConfigError, match="connector jar"):
        FlinkSettings().flink_config()
    conf = FlinkSettings(jars=("/x/a.jar",), remote="flink:8081", config={"parallelism.default": "4"}).flink_config()
    assert conf["pipeline.jars"] == "file:///x/a.jar"
    assert (conf["execution.target"], conf["rest.address"], conf["rest.port"]) == ("remote", "flink", "8081")
    assert conf["parallelism.default"] == "4"
    with pytest.raises(ConfigError, match="host:port"):
        FlinkSettings(jars=("/a.jar",), remote="flink").flink_config()


def test_cli_prints_the_sql() -> None:
    env = {"STREAMS_FIXTURE_SOURCE": SRC, "STREAMS_FIXTURE_SINK": TASKS, "STREAMS_FIXTURE_NAME": "cli-job",
           "PYTHONPATH": str(Path(__file__).parent), "PATH": "/usr/bin:/bin"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "agentflux.cli.main", "streams", "sql", "streams_fixture", "-b", "k:9092"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "INSERT INTO `cli_job_sink`" in done.stdout and "'properties.bootstrap.servers' = 'k:9092'" in done.stdout
    assert "INSERT INTO `cli_job_dead_letters`" in done.stdout and "EXECUTE STATEMENT SET" in done.stdout
    assert "'table.exec.source.idle-timeout' = '0 ms'" in done.stdout
    timed = subprocess.run(
        [sys.executable, "-m", "agentflux.cli.main", "streams", "sql", "streams_fixture", "--idle-timeout", "30s"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert timed.returncode == 0, timed.stderr
    assert "'scan.watermark.idle-timeout' = '30000 ms'" in timed.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "agentflux.cli.main", "streams", "sql", "streams_fixture:nope"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "no attribute 'nope'" in bad.stderr  # a configuration error
