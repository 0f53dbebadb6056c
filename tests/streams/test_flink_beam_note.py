"""Apache Beam's "Failed to import GCSFileSystem" note (PyFlink imports Beam) stays out of a Flink run's output.

Beam logs it on import, in the process that creates the TableEnvironment, so it
reaches stderr through Python's last-resort handler wherever logging is not
configured (a library user, a test, a benchmark), not only under the CLI.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest

from agentflux.streams import flink_engine
from agentflux.streams.flink_engine import FlinkEngine, FlinkSettings

BEAM_LOGGER = "apache_beam.io.filesystems"


def _record(msg: str) -> logging.LogRecord:
    return logging.LogRecord(BEAM_LOGGER, logging.WARNING, "filesystems.py", 69, msg, ("no module",), None)


def test_the_filter_drops_only_the_gcs_note() -> None:
    keep = flink_engine._not_the_beam_gcs_note
    assert not keep(_record("Failed to import GCSFileSystem; loading of this filesystem will be skipped. Error: %s"))
    assert keep(_record("Failed to import S3FileSystem: %s"))


def test_the_table_environment_installs_it_before_pyflink_imports_beam(monkeypatch: pytest.MonkeyPatch) -> None:
    installed: list[bool] = []
    beam_log = logging.getLogger(BEAM_LOGGER)

    def create(_self: FlinkEngine) -> object:
        installed.append(flink_engine._not_the_beam_gcs_note in beam_log.filters)
        return object()

    monkeypatch.setattr(FlinkEngine, "_create_table_environment", create)
    FlinkEngine(None, FlinkSettings()).table_environment()
    assert installed == [True]


def test_beam_still_logs_the_note_this_filter_expects() -> None:
    """If a Beam upgrade rewords it, the filter above would silently stop matching."""
    spec = importlib.util.find_spec("apache_beam")  # locates Beam without importing it (slow)
    if spec is None or spec.origin is None:
        pytest.skip("apache-beam is not installed (the 'flink' extra)")
    source = (Path(spec.origin).parent / "io" / "filesystems.py").read_text()
    assert f"'{flink_engine._BEAM_GCS_NOTE};" in source
