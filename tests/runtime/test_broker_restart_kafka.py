"""Records produced before a broker stop/start are all consumed after it.

This test runs its own broker (not the session one), because it stops it.
"""

import asyncio
from pathlib import Path

import pytest
from kafka_helpers import await_until, produce_raw

from agentflux import AgentApp, AppRunner, Context
from agentflux.local import LocalBroker
from agentflux.transport.kafka import KafkaTransport
from agentflux.transport.settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


@pytest.mark.asyncio
async def test_records_survive_a_broker_restart_and_a_running_agent_resumes(tmp_path: Path) -> None:
    topic = "restart.event-happened.v1"
    app = AgentApp("restart")
    app.topic(topic, partitions=3)
    agent = app.agent("counter")
    seen: set[int] = set()

    @agent.on(topic)
    async def count(event: dict, ctx: Context) -> None:
        seen.add(event["n"])

    with LocalBroker(tmp_path / "kafka") as broker:
        bootstrap = await asyncio.to_thread(broker.start)
        runner = AppRunner(app, KafkaTransport(KafkaSettings(bootstrap)))
        await runner.start()
        try:
            await asyncio.to_thread(produce_raw, bootstrap, topic, [(b"k", b'{"n": 0}', None)])
            await await_until(lambda: seen == {0}, 30, "the first record")
            await runner.stop()
            # Produced while no agent runs, then the broker goes down and comes back.
            batch = [(str(n).encode(), f'{{"n": {n}}}'.encode(), None) for n in range(1, 201)]
            await asyncio.to_thread(produce_raw, bootstrap, topic, batch)
            await asyncio.to_thread(broker.stop)
            assert await asyncio.to_thread(broker.start) == bootstrap
            runner = AppRunner(app, KafkaTransport(KafkaSettings(bootstrap)))
            await runner.start()
            await await_until(lambda: len(seen) == 201, 60, "every record produced before the restart")
            # A broker restart under a running agent: it reconnects and goes on.
            await asyncio.to_thread(broker.stop)
            await asyncio.to_thread(broker.start)
            await asyncio.to_thread(produce_raw, bootstrap, topic, [(b"k", b'{"n": 201}', None)])
            await await_until(lambda: 201 in seen, 60, "a record produced after the second restart")
        finally:
            await runner.stop()
    assert seen == set(range(202))
