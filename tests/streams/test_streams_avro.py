"""An Avro source through the real schema registry: Flink's ``avro-confluent`` format and the embedded engine.

Both engines read the same Avro topic (written by agentflux's ``Payloads``, as
an agent writes an ``avro`` topic) and give the reference's answers. The
embedded engine also reads a JSON record on it (by its first byte, as agents
do) and dead-letters what is neither; Flink cannot skip such records (see
``agentflux.streams.flink_avro``), so its topic holds Avro records only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import streams_fixture
from streams_support import assert_same_results, collect, create_kept_topic, produce, stop, streams_run

from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import TopicFormat

pytestmark = [pytest.mark.kafka]


def avro_records(registry: str, topic: str) -> list[tuple[bytes, bytes]]:
    """The fixture stream as Avro in the Confluent wire format, keyed by machine (registers the schema)."""

    async def encode() -> list[tuple[bytes, bytes]]:
        payloads = Payloads(lambda t: TopicFormat(t, "avro", (streams_fixture.Reading,)), Registry(registry))
        try:
            return [(r.machine_id.encode(), await payloads.encode(topic, r)) for r in streams_fixture.readings()]
        finally:
            await payloads.close()

    return asyncio.run(encode())


def embedded(bootstrap: str, registry: str, env: dict[str, str], state: Path, expected: int) -> list[dict[str, Any]]:
    env = {**env, "STREAMS_FIXTURE_FORMAT": "avro", "AGENTFLUX_SCHEMA_REGISTRY_URL": registry}
    with streams_run("streams_fixture:job", bootstrap, env, "--state-dir", str(state)) as proc:
        got = collect(bootstrap, env["STREAMS_FIXTURE_SINK"], expected, timeout=60)
        assert stop(proc) == 0
    return got


@pytest.mark.flink
@pytest.mark.timeout(240)
def test_both_engines_read_an_avro_topic_through_the_registry(
    kafka_bootstrap: str, schema_registry: str, unique: str, flink_engine: Any, tmp_path: Path
) -> None:
    source = f"factory.reading-avro-{unique}.v1"
    create_kept_topic(kafka_bootstrap, source)
    records = avro_records(schema_registry, source)
    assert all(value[0] == 0 for _, value in records)
    produce(kafka_bootstrap, source, records)
    name = f"avro-{unique}"
    sinks = {e: f"agent.task-requests.avro-{e}-{unique}" for e in ("embedded", "flink")}
    for sink in sinks.values():
        create_kept_topic(kafka_bootstrap, sink)
    job = streams_fixture.make_job(name, source, sinks["flink"], format="avro")
    expected = job.evaluate(streams_fixture.readings()).rows
    assert "'value.format' = 'avro-confluent'" in flink_engine.compile(job).source

    run = flink_engine.start(job)
    try:
        env = {
            "STREAMS_FIXTURE_SOURCE": source,
            "STREAMS_FIXTURE_SINK": sinks["embedded"],
            "STREAMS_FIXTURE_NAME": name,
        }
        from_embedded = embedded(kafka_bootstrap, schema_registry, env, tmp_path, len(expected))
        from_flink = collect(kafka_bootstrap, sinks["flink"], len(expected), timeout=120)
        assert run.running(), "the Flink job failed"
    finally:
        run.cancel()
    assert_same_results([r["value"] for r in from_flink], expected)
    assert_same_results([r["value"] for r in from_embedded], expected)


@pytest.mark.timeout(120)
def test_the_embedded_engine_reads_json_on_an_avro_topic_and_dead_letters_the_rest(
    kafka_bootstrap: str, schema_registry: str, unique: str, tmp_path: Path
) -> None:
    source = f"factory.reading-mixed-{unique}.v1"
    create_kept_topic(kafka_bootstrap, source)
    records = avro_records(schema_registry, source)
    key, _ = records[3]
    records[3] = streams_fixture.encoded()[3]  # written as JSON before the topic moved to Avro: still read
    records.insert(5, (key, b"\x07not the wire format"))  # a wrong magic byte: a dead letter
    produce(kafka_bootstrap, source, records)
    sink = f"agent.task-requests.avro-mixed-{unique}"
    create_kept_topic(kafka_bootstrap, sink)
    name = f"mixed-{unique}"
    expected = streams_fixture.make_job(name, source, sink, format="avro").evaluate(streams_fixture.readings()).rows
    env = {"STREAMS_FIXTURE_SOURCE": source, "STREAMS_FIXTURE_SINK": sink, "STREAMS_FIXTURE_NAME": name}
    got = embedded(kafka_bootstrap, schema_registry, env, tmp_path, len(expected))
    assert_same_results([r["value"] for r in got], expected)
    letters = collect(
        kafka_bootstrap, "agent.dead-letter.v1", 1, timeout=30, parse=False,
        match=lambda r: r["headers"].get("dlq_source_topic") == source.encode(),
    )  # fmt: skip
    assert [r["value"] for r in letters] == [b"\x07not the wire format"]
    assert letters[0]["headers"]["dlq_error_message"].startswith(b"wrong magic byte 0x07")
