"""The behaviour suite: every test here runs once on the in-memory transport and once on real Kafka.

The ``backend`` fixture chooses the broker (``behaviour.helpers``). Its Kafka
half carries the ``kafka`` marker, so ``-m "not kafka"`` runs the memory half
only, and a timeout, as every real-service test does. What the memory transport
cannot honestly model (rebalancing, crash redelivery, broker outages) is not
here: it is tested on real Kafka only (``tests/runtime/*_kafka.py``,
``tests/faults``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from behaviour.helpers import Backend, KafkaBackend, MemoryBackend


@pytest_asyncio.fixture(
    params=["memory", pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.timeout(60)])],
)
async def backend(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[Backend]:
    """A started transport on the chosen broker, with names (topics, skills, app, groups) only this test uses."""
    chosen: Backend
    if request.param == "kafka":
        chosen = KafkaBackend(unique, request.getfixturevalue("kafka_bootstrap"))
    else:
        chosen = MemoryBackend(unique)
    await chosen.transport.start()
    try:
        yield chosen
    finally:
        await chosen.transport.close()
