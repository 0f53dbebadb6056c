"""Stream tests: the modules beside this file and `examples/` are importable; one Flink environment per session."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for path in (str(HERE), str(HERE.parents[1])):
    if path not in sys.path:
        sys.path.insert(0, path)


@pytest.fixture(scope="session")
def flink_jars() -> list[Path]:
    # A missing PyFlink fails the Flink tests: a skip would hide that they never ran. Opt out explicitly.
    if os.environ.get("AGENTFLUX_SKIP_FLINK") == "1":
        pytest.skip("AGENTFLUX_SKIP_FLINK=1")
    try:
        import pyflink  # noqa: F401
    except ImportError:
        pytest.fail("the Flink tests need the 'flink' extra (scripts/setup installs it); AGENTFLUX_SKIP_FLINK=1 skips")
    from agentflux.local.flink_jars import ensure_flink_jars

    return ensure_flink_jars()


@pytest.fixture(scope="session")
def flink_engine(kafka_bootstrap: str, schema_registry: str, flink_jars: list[Path]) -> Iterator[Any]:
    """One FlinkEngine, hence one TableEnvironment and mini-cluster, for the whole session (Avro sources too)."""
    from agentflux.streams.flink_engine import FlinkEngine, FlinkSettings
    from agentflux.transport.settings import KafkaSettings

    kafka = KafkaSettings(kafka_bootstrap, schema_registry_url=schema_registry)
    engine = FlinkEngine(kafka, FlinkSettings(jars=tuple(flink_jars), checkpoint_interval_ms=2000))
    yield engine
