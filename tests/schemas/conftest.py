"""Fixtures of the schema tests: a started Kafka backend with this test's names, and a registry client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from behaviour.helpers import KafkaBackend

from agentflux.contract.registry import Registry


@pytest_asyncio.fixture
async def backend(kafka_bootstrap: str, unique: str) -> AsyncIterator[KafkaBackend]:
    """A started transport on the session broker, with topics, app and groups only this test uses."""
    chosen = KafkaBackend(unique, kafka_bootstrap)
    await chosen.transport.start()
    try:
        yield chosen
    finally:
        await chosen.transport.close()


@pytest_asyncio.fixture
async def registry(schema_registry: str) -> AsyncIterator[Registry]:
    """A client of the session's schema registry, closed after the test."""
    found = Registry(schema_registry)
    try:
        yield found
    finally:
        await found.close()
