"""Fixtures of the end-to-end tests (see ``pricing_harness``)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.pricing_harness import PricingSystem


@pytest.fixture
def pricing_system(kafka_bootstrap: str, schema_registry: str, unique: str, tmp_path: Path) -> Iterator[PricingSystem]:
    """A pricing system of this test's own (Avro events through the registry); every process it started is stopped."""
    system = PricingSystem(kafka_bootstrap, unique, tmp_path, schema_registry)
    try:
        yield system
    finally:
        system.stop_processes()
