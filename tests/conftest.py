"""Shared fixtures: one real Kafka broker and one schema registry per test session, and unique names per test.

Tests that need the broker take ``kafka_bootstrap`` and carry ``@pytest.mark.kafka``
plus ``@pytest.mark.timeout(...)``. Set ``AGENTFLUX_TEST_BOOTSTRAP`` to run them
against a cluster you already have instead of starting one.

Tests that need a schema registry take ``schema_registry`` (its Confluent-compatible
URL) and carry ``@pytest.mark.services``, or ``@pytest.mark.kafka`` when they use
the broker too; each registers under subjects of its own (``unique``). Set
``AGENTFLUX_TEST_SCHEMA_REGISTRY_URL`` to use a registry you already run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from agentflux.local import LocalBroker, LocalRegistry


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


@pytest.fixture(scope="session")
def schema_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of an Apicurio Registry (``http://127.0.0.1:PORT/apis/ccompat/v7``) shared by the whole session.

    On a free port in a directory of its own, so that parallel sessions do not meet;
    stopped at the end, after failures too.
    """
    external = os.environ.get("AGENTFLUX_TEST_SCHEMA_REGISTRY_URL")
    if external:
        yield external
        return
    registry = LocalRegistry(tmp_path_factory.mktemp("registry"))
    try:
        # Generous: a cold cache fetches the application (158 MB) from Maven Central first.
        yield registry.start(timeout=180)
    finally:
        registry.stop()


@pytest.fixture
def unique() -> str:
    """A short random hex string for per-test topic names and group ids."""
    return uuid.uuid4().hex[:12]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``e2e``, ``flink`` and ``faults`` tests need the broker too: mark them ``kafka`` for ``-m "not kafka"``."""
    for item in items:
        if any(item.get_closest_marker(name) for name in ("e2e", "flink", "faults")):
            item.add_marker(pytest.mark.kafka)
