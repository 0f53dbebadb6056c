"""Shared fixtures: one real Kafka broker per test session, and unique names per test.

Tests that need the broker take ``kafka_bootstrap`` and carry ``@pytest.mark.kafka``
plus ``@pytest.mark.timeout(...)``. Set ``AGENTFLUX_TEST_BOOTSTRAP`` to run them
against a cluster you already have instead of starting one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from agentflux.local import LocalBroker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a single-node KRaft broker shared by the whole session."""
    external = os.environ.get("AGENTFLUX_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"))
    try:
        # Generous: a cold cache fetches the jars from Maven Central first.
        yield broker.start(timeout=120)
    finally:
        broker.stop()


@pytest.fixture
def unique() -> str:
    """A short random hex string for per-test topic names and group ids."""
    return uuid.uuid4().hex[:12]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``e2e``, ``flink`` and ``faults`` tests need the broker too: mark them ``kafka`` for ``-m "not kafka"``."""
    for item in items:
        if any(item.get_closest_marker(name) for name in ("e2e", "flink", "faults")):
            item.add_marker(pytest.mark.kafka)
