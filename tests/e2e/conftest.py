"""Fixtures of the end-to-end tests (see ``pricing_harness``)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.pricing_harness import PricingSystem


@pytest.fixture
def pricing_system(kafka_bootstrap: str, unique: str, tmp_path: Path) -> Iterator[PricingSystem]:
    """A pricing system of this test's own; every process it started is stopped afterwards."""
    system = PricingSystem(kafka_bootstrap, unique, tmp_path)
    try:
        yield system
    finally:
        system.stop_processes()
