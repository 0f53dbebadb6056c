"""A static member fenced by another with its instance id joins again instead of stopping."""

from __future__ import annotations

import logging

import pytest
from kafka_helpers import await_until, create_topic, produce_raw

from agentflux import AgentApp, AppRunner, Context
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120), pytest.mark.asyncio]


def static_member(app: AgentApp, bootstrap: str) -> AppRunner:
    transport = KafkaTransport(KafkaSettings(bootstrap), consumer_extra={"group.instance.id": "the-one"})
    return AppRunner(app, transport, grace=2)


async def test_a_fenced_static_member_rejoins_and_goes_on(
    kafka_bootstrap: str, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"faults.ping-{unique}.v1"
    create_topic(kafka_bootstrap, topic, partitions=2)
    app = AgentApp(f"fenced-{unique}")
    seen: set[int] = set()

    @app.agent("pinger").on(topic)
    async def ping(event: dict, ctx: Context) -> None:
        seen.add(event["n"])

    def batch(numbers: range) -> list[tuple[bytes, bytes, None]]:
        return [(str(n).encode(), f'{{"n": {n}}}'.encode(), None) for n in numbers]

    first = static_member(app, kafka_bootstrap)
    with caplog.at_level(logging.WARNING, logger="agentflux"):
        async with first:
            produce_raw(kafka_bootstrap, topic, batch(range(50)))
            await await_until(lambda: seen >= set(range(50)), 30, "the first batch")
            async with static_member(app, kafka_bootstrap):  # the same instance id: it takes over the membership
                await await_until(lambda: "joining the group again" in caplog.text, 30, "the first member fenced")
            produce_raw(kafka_bootstrap, topic, batch(range(50, 100)))
            await await_until(lambda: seen >= set(range(100)), 60, "the second batch on the first member")
            assert all(not task.done() for task in first._tasks), "a consumer of the fenced member stopped"
    assert "fenced" in caplog.text.lower()
