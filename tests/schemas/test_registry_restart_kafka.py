"""The schema registry stops mid-stream and comes back: the consumer waits, and nothing is lost or dead-lettered.

The test runs a registry of its own (the session's is shared), with its
schemas stored under its data dir, so that the restarted process still
knows the ids the records carry.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from behaviour.helpers import KafkaBackend
from schemas.models import PriceChanged, PriceChangedV2, seed_price

from agentflux import AgentApp, Context
from agentflux.contract.payloads import Payloads
from agentflux.contract.registry import Registry
from agentflux.contract.schemas import TopicFormat
from agentflux.local import LocalRegistry

pytestmark = [pytest.mark.kafka, pytest.mark.faults, pytest.mark.asyncio, pytest.mark.timeout(300)]


async def test_a_registry_outage_holds_the_partition_and_loses_nothing(
    backend: KafkaBackend, tmp_path: Path, unique: str, caplog: pytest.LogCaptureFixture
) -> None:
    registry_process = LocalRegistry(tmp_path / "registry")
    try:
        url = registry_process.start(timeout=180)
        port = int(url.split(":")[2].split("/")[0])
        topic = backend.topic("price-changed")
        # Records written with two schema versions while the registry is up.
        edge = Registry(url)
        try:
            v1 = Payloads(lambda t: TopicFormat(t, "avro", (PriceChanged,)), edge)
            v2 = Payloads(lambda t: TopicFormat(t, "avro", (PriceChangedV2,)), edge)
            early = [await v1.encode(topic, seed_price(n)) for n in range(5)]
            late = [await v2.encode(topic, PriceChangedV2(**seed_price(n).model_dump())) for n in range(5, 10)]
        finally:
            await edge.close()

        app = AgentApp(backend.app_name, format="avro", schema_registry_url=url)
        app.topic(topic, partitions=1)
        seen: list[str] = []

        @app.agent("reader").on(topic)
        async def read(event: PriceChanged, ctx: Context) -> None:
            seen.append(event.product_id)

        async with backend.run(app) as runner:
            for value in early:
                await backend.transport.publish(topic, value, key=b"k")
            await backend.eventually(lambda: len(seen) == 5, what="the records of the first schema")
            registry_process.stop()  # the consumer knows the first schema's id, not the second's
            for value in late:
                await backend.transport.publish(topic, value, key=b"k")
            await asyncio.sleep(5)  # long enough for several retries against the stopped registry
            assert len(seen) == 5, "no record of the second schema can be read while the registry is down"
            waits = [r.getMessage() for r in caplog.records if "trying again in" in r.getMessage()]
            assert waits and f"schema registry at {url} did not answer" in waits[0]
            assert await backend.dead_letters(topic) == []
            LocalRegistry(tmp_path / "registry", port=port).start(timeout=180)  # same data dir: same ids
            await backend.eventually(lambda: len(seen) == 10, what="the waiting records", timeout=120)
            await backend.drain(runner)
        assert seen == [f"p{n}" for n in range(10)]  # in order, each once
        assert await backend.dead_letters(topic) == []
    finally:
        LocalRegistry(tmp_path / "registry").stop()
