"""The Flink connector fetch: a pinned pom, cached like the Kafka jars."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflux.local import flink_jars


def test_pom_pins_the_connector_version() -> None:
    pom = flink_jars.POM_PATH.read_text()
    assert f"<flink.kafka.connector.version>{flink_jars.CONNECTOR_VERSION}</flink.kafka.connector.version>" in pom
    assert "<artifactId>flink-sql-connector-kafka</artifactId>" in pom


def test_cache_location_and_readiness(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AGENTFLUX_CACHE_DIR", str(tmp_path))
    libs = flink_jars.flink_libs_dir()
    assert libs == tmp_path / f"flink-connectors-{flink_jars.CONNECTOR_VERSION}" / "libs"
    assert not flink_jars.flink_jars_ready()
    libs.mkdir(parents=True)
    (libs / "flink-sql-connector-kafka.jar").write_bytes(b"")
    (libs.parent / ".complete").write_text("stale digest\n")
    assert not flink_jars.flink_jars_ready()  # a changed pom means fetching again
    (libs.parent / ".complete").write_text(flink_jars._fetch()._digest() + "\n")
    assert flink_jars.flink_jars_ready()
    assert flink_jars.ensure_flink_jars() == [libs / "flink-sql-connector-kafka.jar"]  # no Maven needed now


def test_pom_pins_the_avro_confluent_format_to_pyflinks_version() -> None:
    from importlib.metadata import version

    pom = flink_jars.POM_PATH.read_text()
    assert "<artifactId>flink-sql-avro-confluent-registry</artifactId>" in pom
    assert f"<flink.version>{flink_jars.FLINK_VERSION}</flink.version>" in pom
    assert version("apache-flink") == flink_jars.FLINK_VERSION
