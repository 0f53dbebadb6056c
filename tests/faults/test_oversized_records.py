"""Size limits: one setting from producer to dead letter, and a record too large for it never blocks a partition."""

from __future__ import annotations

import json

import pytest
from kafka_helpers import await_until, committed_offset, create_topic, dead_letters_of, produce_raw

from agentflux import AgentApp, AppRunner, Context, RetryPolicy
from agentflux.runtime.runner import kafka_transport

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120), pytest.mark.asyncio]
BIG = 1_500_000  # over the default 1 MB limit, under the topic's 3 MB


async def test_a_record_too_large_to_dead_letter_whole_is_truncated_and_its_partition_goes_on(
    kafka_bootstrap: str, unique: str
) -> None:
    topic = f"faults.upload-{unique}.v1"
    create_topic(kafka_bootstrap, topic, 1, {"max.message.bytes": "3000000"})
    app = AgentApp(f"big-{unique}", bootstrap_servers=kafka_bootstrap)  # max_message_bytes: the default 1 MB
    handled: list[int] = []

    @app.agent("reader").on(topic)
    async def read(upload: dict, ctx: Context) -> None:
        handled.append(upload["n"])

    value = json.dumps({"n": 0, "blob": "x" * BIG}).encode()
    records = [(b"big", value, [("ce_id", b"upload-0"), ("tenant", b"acme")])]
    records += [(f"k{n}".encode(), json.dumps({"n": n}).encode(), None) for n in range(1, 21)]
    produce_raw(kafka_bootstrap, topic, records, max_bytes=3_100_000)
    async with AppRunner(app, kafka_transport(app)):
        await await_until(lambda: sorted(handled) == list(range(1, 21)), 30, "the records after the large one")
        await await_until(lambda: committed_offset(kafka_bootstrap, app.agents["reader"].group_id, topic, 0) == 21,
                          30, "the partition to commit past every record")  # fmt: skip
    [letter] = await dead_letters_of(kafka_bootstrap, topic)
    assert letter.info["error_type"] == "InvalidMessage"
    assert f"value is {len(value)} bytes; the limit is 1000000 bytes" in letter.info["error_message"]
    assert (letter.info["value_truncated"], letter.info["value_size"]) == ("true", str(len(value)))
    assert letter.record.value and 900_000 < len(letter.record.value) < 1_000_000
    assert value.startswith(letter.record.value)
    assert ("ce_id", b"upload-0") in letter.original_headers() and ("tenant", b"acme") in letter.original_headers()
    assert (letter.info["source_partition"], letter.info["source_offset"]) == ("0", "0")


async def test_the_apps_size_limit_reaches_the_producer(kafka_bootstrap: str, unique: str) -> None:
    source, target = f"faults.order-{unique}.v1", f"faults.report-{unique}.v1"
    app = AgentApp(f"limit-{unique}", bootstrap_servers=kafka_bootstrap, max_message_bytes=2_500_000)
    app.topic(target, partitions=1, config={"max.message.bytes": "3000000"})
    agent = app.agent("reporter", retry=RetryPolicy(max_attempts=1))
    done: list[int] = []

    @agent.on(source)
    async def report(order: dict, ctx: Context) -> None:
        ack = await ctx.publish(target, {"report": "r" * 2_000_000}, key="r")  # 2 MB: over librdkafka's default
        done.append(ack.offset)

    async with AppRunner(app, kafka_transport(app)):
        produce_raw(kafka_bootstrap, source, [(b"o", b'{"n": 1}', None)])
        await await_until(lambda: bool(done), 30, "the 2 MB report")
    assert await dead_letters_of(kafka_bootstrap, source) == []
